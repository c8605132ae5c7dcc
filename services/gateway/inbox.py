"""A socket's frames handled one after another, in order, while the socket keeps being read.

uvicorn stops reading a WebSocket after each message until the app asks for the next one.
A reader that awaited each frame's handling (a command waits for the broker's confirm, for
seconds when the broker applies flow control) therefore left the socket unread meanwhile, and
with it the client's pings: clients closed healthy sockets on "keepalive ping timeout". The
reader now hands each frame to this inbox and goes back to reading; one worker task, started
when work arrives and ended when none is left, runs the items in arrival order. At `limit`
waiting items the reader waits for room, which pauses the socket as before: memory per socket
stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Item = Callable[[], Awaitable[object] | None]  # what it returns (or awaits to) is ignored
Label = object  # what an item is about (the frame), for `drop_waiting`; None for a reply


class FrameInbox:
    """Items (a frame's handling, or a reply that must keep its place) run one at a time."""

    __slots__ = ("_items", "_limit", "_room", "_worker")

    def __init__(self, limit: int) -> None:
        # Made when work arrives and dropped when it is done: an idle socket holds no deque.
        self._items: deque[tuple[Item, Label]] | None = None
        self._limit = limit
        self._room: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Items handed over and not finished (the one running included)."""
        return len(self._items) if self._items is not None else 0

    async def put(self, item: Item, label: Label = None) -> None:
        """Queue an item behind the others, waiting for room at the limit."""
        while self.waiting >= self._limit:
            room = self._room = self._room or asyncio.Event()
            room.clear()
            await room.wait()
        if self._items is None:
            self._items = deque()
        self._items.append((item, label))
        if self._worker is None:
            self._worker = asyncio.create_task(self._run())

    def now_or_in_turn(self, item: Item) -> None:
        """Run a synchronous item now if nothing waits, else behind the waiting items.

        For replies the reader makes itself (a refused frame): they keep the frame order.
        Never waits for room: such replies are small and the rate limit bounds them.
        """
        if not self._items:
            item()
            return
        self._items.append((item, None))

    async def _run(self) -> None:
        try:
            while self._items:
                try:
                    outcome = self._items[0][0]()
                    if outcome is not None:
                        await outcome
                except Exception:
                    # Items answer their own failures; one that did not must not stop the rest.
                    log.exception("a socket's frame failed")
                finally:
                    if self._items:  # emptied by cancel()
                        self._items.popleft()
                    if self._room is not None:
                        self._room.set()
        finally:
            self._worker = None
            if not self._items:
                self._items = None

    async def join(self) -> None:
        """Wait until everything handed over has run (a socket that closed finishes its work)."""
        worker = self._worker
        if worker is not None:
            await asyncio.shield(worker)

    def drop_waiting(self) -> list[Label]:
        """Drop the items not started yet (the one running goes on); return their labels."""
        if not self._items or len(self._items) < 2:
            return []
        running = self._items.popleft()
        dropped = [label for _, label in self._items if label is not None]
        self._items.clear()
        self._items.append(running)
        if self._room is not None:
            self._room.set()
        return dropped

    def cancel(self) -> None:
        """Drop what waits and stop the item running (the socket is gone for good)."""
        self._items = None
        if self._worker is not None:
            self._worker.cancel()
