"""One authenticated WebSocket: its bounded send queue and the writer that drains it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client import Counter
from starlette.websockets import WebSocket

from services.common.jsonutil import extend, server_frame
from services.common.signals import CONTROL_PREFIX, MEMBERSHIP_CHANGED, SESSION_REVOKED
from services.common.tokens import Claims

from .entities import change_answer
from .ratelimit import TokenBucket
from .topics import position_of

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 4008
CLOSE_REPLACED = 4409
_CLOSE = b""  # queued after the last frame of a socket that is being closed
_EVICT = "_evict"
CLOSE_UNAUTHENTICATED = 4401
_COMMAND_RESULT_PREFIX = b'{"event":"command_result"'


class Connection:
    """A socket after the handshake. Frames are queued, never awaited, by whoever sends them."""

    def __init__(
        self,
        websocket: WebSocket,
        claims: Claims,
        session_id: str,
        *,
        send_queue_max: int,
        max_pending_commands: int,
        bucket: TokenBucket,
    ) -> None:
        self.bucket = bucket
        self.websocket = websocket
        self.claims = claims
        self.session_id = session_id
        self.topics: set[str] = set()
        # Channels of the projects whose membership this socket has proven.
        self.projects: dict[str, frozenset[str]] = {}
        self.channels: set[tuple[str, str]] = set()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=send_queue_max)
        self._pending: OrderedDict[str, str | None] = OrderedDict()
        # Commands not yet acknowledged, and a result that arrived before the acknowledgement.
        self._early: dict[str, bytes | None] = {}
        self._max_pending = max_pending_commands
        self._writer: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self._closer: asyncio.Task[None] | None = None
        self._close_reason = ""
        self.abandoned = False
        self.serving: asyncio.Task[Any] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._replaying: dict[str, list[bytes]] = {}
        # Called when the user's membership of a project changed (the gateway re-checks it).
        self.on_membership: Callable[[Connection, str], None] | None = None
        self.frames_out: Counter | None = None  # counts the frames written to the socket

    @property
    def user_id(self) -> str:
        return self.claims.user.id

    @property
    def queued(self) -> int:
        """Frames waiting in the send queue."""
        return self._queue.qsize()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write())

    def watch_expiry(self, grace_s: float = 5.0) -> None:
        """Close 4401 when the token expires, unless a fresh one arrives first (re-arms)."""
        if self._expiry is not None:
            self._expiry.cancel()
        delay = max(0.0, self.claims.expires_at + grace_s - time.time())
        self._expiry = asyncio.get_running_loop().call_later(
            delay, self.close, CLOSE_UNAUTHENTICATED, "token expired"
        )

    async def stop(self, drain_s: float = 2.0) -> None:
        """Stop writing; a socket being closed first sends what was queued before the close."""
        if self._expiry is not None:
            self._expiry.cancel()
        if self._writer is not None:
            if self.close_code is not None and not self._writer.done():
                with contextlib.suppress(TimeoutError, Exception):
                    await asyncio.wait_for(asyncio.shield(self._writer), drain_s)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write(self) -> None:
        try:
            while True:
                frame = await self._queue.get()
                if frame is _CLOSE and self.close_code is not None:
                    await self._close(self.close_code, self._close_reason)
                    return
                await self.websocket.send_text(frame.decode())
                if self.frames_out is not None:
                    self.frames_out.inc()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away; the reader will see it too
            log.debug("send failed: %r", exc)

    def send(self, frame: bytes) -> None:
        """Queue a frame; a socket whose queue is full is too slow and gets closed."""
        if self.close_code is not None:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("closing slow socket of %s: send queue full", self.user_id)
            self.close(CLOSE_TOO_SLOW, "too slow to read")

    def reply(self, event: str, data: Any, ref: str | None) -> None:
        """Queue a direct answer to a client frame."""
        self.send(server_frame(event, data, ref))

    def error(self, code: str, message: str, ref: str | None) -> None:
        """Queue an `error` frame."""
        self.reply("error", {"code": code, "message": message}, ref)

    def close(self, code: int, reason: str = "") -> None:
        """Close the socket with `code` after what is queued (at once if the queue is full)."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._close_reason = reason
        try:
            self._queue.put_nowait(_CLOSE)
        except asyncio.QueueFull:
            self._closer = asyncio.create_task(self._abandon(code, reason))

    async def _abandon(self, code: int, reason: str, within_s: float = 2.0) -> None:
        """Close a socket that does not read: try politely, then stop serving it at all."""
        if self._writer is not None:
            self._writer.cancel()  # it is stuck on a full socket buffer
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.websocket.close(code, reason), within_s)
        self.abandoned = True
        if self.serving is not None and not self.serving.done():
            self.serving.cancel()

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason)

    def expect_result(self, command_id: str, ref: str | None) -> None:
        """Remember which client frame a command came from, to set `ref` on its result."""
        self._pending[command_id] = ref
        self._early[command_id] = None  # until command_received is out
        while len(self._pending) > self._max_pending:
            self._pending.popitem(last=False)

    def forget(self, command_id: str) -> None:
        """The command was not accepted: no result will come."""
        self._pending.pop(command_id, None)
        self._early.pop(command_id, None)

    def received(self, command_id: str, ref: str | None) -> None:
        """Answer `command_received`, then a result that overtook it (a loaded machine)."""
        self.reply("command_received", {"command_id": command_id}, ref)
        early = self._early.pop(command_id, None)
        if early is not None:
            self.send(early)

    def deliver(self, topic: str, frame: bytes) -> None:
        """A fanned-out frame; command results get the `ref` of the frame that sent them."""
        if topic.startswith("user:"):
            if frame.startswith(CONTROL_PREFIX):
                self._control(orjson.loads(frame))
                return  # a control frame, never forwarded
            answer = change_answer(frame, self.session_id)
            if answer is None:
                return  # another session's state_change answer
            frame = answer
        if frame.startswith(_COMMAND_RESULT_PREFIX) and self._pending:
            command_id = orjson.loads(frame)["data"]["command_id"]
            if command_id in self._pending:
                ref = self._pending.pop(command_id)
                if ref is not None:
                    frame = extend(frame, {"ref": ref})
                if command_id in self._early:
                    self._early[command_id] = frame  # sent right after command_received
                    return
        held = self._replaying.get(topic)
        if held is not None:
            held.append(frame)  # sent after the replay, so the topic stays in order
            if len(held) > self._queue.maxsize:
                self.close(CLOSE_TOO_SLOW, "too slow to read")  # bounded like the queue
            return
        self.send(frame)

    def _control(self, frame: dict[str, Any]) -> None:
        """Act on a control frame of the user topic (see `services/common/signals.py`)."""
        event, data = frame.get("event"), frame.get("data") or {}
        if event == _EVICT and data.get("session_id") == self.session_id:
            self.close(CLOSE_REPLACED, "replaced by a newer connection of this user")
        elif event == SESSION_REVOKED and self.claims.session_id in data.get("session_ids", ()):
            self.close(CLOSE_UNAUTHENTICATED, "session revoked")
        elif event == MEMBERSHIP_CHANGED:
            project_id = str(data.get("project_id"))
            self.projects.pop(project_id, None)
            if self.on_membership is not None:
                self.on_membership(self, project_id)

    def hold(self, topic: str) -> None:
        """Keep live frames of `topic` back while its history is replayed."""
        self._replaying.setdefault(topic, [])

    def release(self, topic: str, last_seq: int) -> None:
        """End a replay: send the held frames the replay did not already cover."""
        for frame in self._replaying.pop(topic, []):
            mark = position_of(frame)
            if mark is None or mark.seq > last_seq:
                self.send(frame)

    async def wait_for_room(self, within_s: float) -> None:
        """Wait until the send queue has room; close the socket as too slow if none comes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while self._queue.full() and self.close_code is None:
            if loop.time() >= deadline:
                self.close(CLOSE_TOO_SLOW, "too slow to read")
                return
            await asyncio.sleep(0.005)  # the writer drains meanwhile; a queue has no "not full"

    async def send_paced(self, frame: bytes, within_s: float) -> bool:
        """Queue a frame, waiting for room (a replay must not overflow the queue by itself)."""
        if self.close_code is not None:
            return False
        try:
            await asyncio.wait_for(self._queue.put(frame), within_s)
        except TimeoutError:
            self.close(CLOSE_TOO_SLOW, "too slow to read")
            return False
        return True


def evict_frame(session_id: str) -> bytes:
    """The control frame that closes one session (4409) on whichever gateway holds it."""
    return orjson.dumps({"event": _EVICT, "data": {"session_id": session_id}})
