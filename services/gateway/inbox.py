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
Label = object  # what an item is about (the frame), for `give_up`; None for a reply


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

    def unbound(self) -> None:
        """Take every item from now on, past the limit: the socket is about to close, and a
        reader waiting for room must get to the end of what it was sent."""
        self._limit = 1 << 62
        if self._room is not None:
            self._room.set()

    def give_up(self) -> tuple[Label, list[Label]]:
        """Stop after the item running: the replies waiting run now, the frames waiting are
        dropped. Returns the running item's label and the dropped ones', in order."""
        if not self._items:
            return None, []
        running, *waiting = self._items
        self._items.clear()
        self._items.append(running)
        dropped = []
        for item, label in waiting:
            if label is None:
                item()  # a reply the reader made: synchronous, and due
            else:
                dropped.append(label)
        if self._room is not None:
            self._room.set()
        return running[1], dropped

    def cancel(self) -> None:
        """Drop what waits and stop the item running (the socket is gone for good)."""
        self._items = None
        if self._worker is not None:
            self._worker.cancel()
