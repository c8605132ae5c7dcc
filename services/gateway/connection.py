"""One authenticated WebSocket: its bounded send queue and the writer that drains it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.websockets import WebSocket

from services.common.jsonutil import extend, server_frame
from services.common.shutdown import SEND_NOW, WAIT_WRITABLE, SendNow, WaitWritable
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
    """A socket after the handshake. Frames are queued, never awaited, by whoever sends them.

    A frame goes straight to the socket when nothing is queued before it and the socket is
    writable; otherwise it waits in a bounded queue that a writer task, started only then,
    drains in order.
    """

    __slots__ = (
        "__weakref__",
        "_close_reason",
        "_closer",
        "_early",
        "_expiry",
        "_max_pending",
        "_out",
        "_out_max",
        "_pending",
        "_replaying",
        "_room",
        "_send_now",
        "_started",
        "_wait_writable",
        "_writer",
        "abandoned",
        "bucket",
        "channels",
        "claims",
        "close_code",
        "frames_out",
        "on_membership",
        "projects",
        "publish_state",
        "serving",
        "session_id",
        "topics",
        "websocket",
    )

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
        self._out: deque[bytes] | None = None  # frames waiting; made when one has to wait
        self._out_max = send_queue_max
        self._room: asyncio.Event | None = None  # made by whoever waits for room
        # Commands sent, by id, with the `ref` of their frame (made on the first command).
        self._pending: OrderedDict[str, str | None] | None = None
        # Commands not yet acknowledged, and a result that arrived before the acknowledgement.
        self._early: dict[str, bytes | None] | None = None
        self._max_pending = max_pending_commands
        self._writer: asyncio.Task[None] | None = None
        self._started = False
        extensions = (getattr(websocket, "scope", None) or {}).get("extensions") or {}
        self._send_now: SendNow | None = extensions.get(SEND_NOW)
        self._wait_writable: WaitWritable | None = extensions.get(WAIT_WRITABLE)
        self.close_code: int | None = None
        self._closer: asyncio.Task[None] | None = None
        self._close_reason = ""
        self.abandoned = False
        self.serving: asyncio.Task[Any] | None = None
        # The publish of the frame being handled: (its message id, whether the broker was
        # handed it: then it may run if cut off now); None while none has begun.
        self.publish_state: tuple[str, bool] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._replaying: dict[str, list[bytes]] | None = None
        # Called when the user's membership of a project changed (the gateway re-checks it).
        self.on_membership: Callable[[Connection, str, bool], None] | None = None
        self.frames_out: Tally | None = None  # counts the frames written to the socket

    @property
    def user_id(self) -> str:
        return self.claims.user.id

    @property
    def queued(self) -> int:
        """Frames waiting in the send queue."""
        return len(self._out) if self._out is not None else 0

    @property
    def full(self) -> bool:
        """Whether the send queue is at its limit (and the socket still open)."""
        return self.queued >= self._out_max and self.close_code is None

    def start(self) -> None:
        """Begin writing: from now on frames go out (queued ones first)."""
        self._started = True
        if self._out:
            self._wake()

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
        self._started = False
        if self._expiry is not None:
            self._expiry.cancel()
        writer = self._writer
        if writer is not None:
            if self.close_code is not None and not writer.done():
                # asyncio.wait, not wait_for: a writer cancelled meanwhile (the socket was
                # abandoned as too slow) must not raise CancelledError into stop().
                await asyncio.wait({writer}, timeout=drain_s)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    def _wake(self) -> None:
        if self._writer is None and self._started:
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        """Drain the queue in order, then end (the next frame may go straight out again)."""
        out = self._out
        assert out is not None, "a writer starts only when frames wait"
        try:
            while out:
                frame = out[0]
                if frame is _CLOSE and self.close_code is not None:
                    out.clear()
                    await self._close(self.close_code, self._close_reason)
                    return
                if self._send_now is not None and self._wait_writable is not None:
                    while not self._send_now(frame):  # raises once the peer is gone
                        await self._wait_writable()
                    out.popleft()
                else:
                    out.popleft()
                    await self.websocket.send_text(frame.decode())
                if self.frames_out is not None:
                    self.frames_out.count += 1
                if self._room is not None and len(out) < self._out_max:
                    self._room.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away; the reader will see it too
            log.debug("send failed: %r", exc)
        finally:
            self._writer = None
            if not out:
                self._out = None  # a burst's queue goes once it is drained

    def send(self, frame: bytes) -> None:
        """Queue a frame; a socket whose queue is full is too slow and gets closed."""
        if self.close_code is not None:
            return
        if self._writer is None and not self._out and self._started:
            send_now = self._send_now
            if send_now is not None:
                try:
                    written = send_now(frame)
                except Exception as exc:  # the peer went away; the reader will see it too
                    log.debug("send failed: %r", exc)
                    return
                if written:
                    if self.frames_out is not None:
                        self.frames_out.count += 1
                    return
        if self.queued >= self._out_max:
            log.warning("closing slow socket of %s: send queue full", self.user_id)
            self.close(CLOSE_TOO_SLOW, "too slow to read")
            return
        self._enqueue(frame)

    def _enqueue(self, frame: bytes) -> None:
        if self._out is None:
            self._out = deque()
        self._out.append(frame)
        self._wake()

    def reply(self, event: str, data: Any, ref: str | None) -> None:
        """Queue a direct answer to a client frame."""
        self.send(server_frame(event, data, ref))

    def error(
        self, code: str, message: str, ref: str | None, extra: dict[str, Any] | None = None
    ) -> None:
        """Queue an `error` frame (`extra`: more fields of its data)."""
        self.reply("error", {"code": code, "message": message, **(extra or {})}, ref)

    def close(self, code: int, reason: str = "") -> None:
        """Close the socket with `code` after what is queued (at once if the queue is full)."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._close_reason = reason
        if self.queued >= self._out_max:
            self._closer = asyncio.create_task(self._abandon(code, reason))
            return
        self._enqueue(_CLOSE)

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

    def publishing(self, message_id: str) -> Callable[[], None]:
        """Mark the frame being handled as publishing `message_id`; the function returned is
        the bus's `on_sent`."""
        self.publish_state = (message_id, False)

        def handed_over() -> None:
            self.publish_state = (message_id, True)

        return handed_over

    def handed_over(self) -> bool:
        """Whether the frame being handled has had a publish handed to the broker."""
        return self.publish_state is not None and self.publish_state[1]

    def not_handed_over(self) -> str | None:
        """The message id of the frame being handled whose publish waits to be handed to the
        broker (it blocks publishers), if any: that one cannot run."""
        state = self.publish_state
        return state[0] if state is not None and not state[1] else None

    def expect_result(self, command_id: str, ref: str | None) -> None:
        """Remember which client frame a command came from, to set `ref` on its result."""
        if self._pending is None or self._early is None:
            self._pending, self._early = OrderedDict(), {}
        self._pending[command_id] = ref
        self._early[command_id] = None  # until command_received is out
        while len(self._pending) > self._max_pending:
            self._pending.popitem(last=False)

    def unconfirmed(self) -> list[tuple[str, str | None]]:
        """(command id, ref) of the commands handed to the broker (or waiting to be, while it
        blocks publishers) and not confirmed, with no result yet."""
        if self._early is None or self._pending is None:
            return []
        return [
            (command_id, self._pending.get(command_id))
            for command_id, early in self._early.items()
            if early is None
        ]

    def flush_early(self) -> int:
        """Send the results that overtook their command's confirm (they ran); how many."""
        if not self._early:
            return 0
        held = [frame for frame in self._early.values() if frame is not None]
        self._early = {key: None for key, frame in self._early.items() if frame is None}
        for frame in held:
            self.send(frame)
        return len(held)

    def forget(self, command_id: str) -> None:
        """The command was not accepted: no result will come."""
        if self._pending is not None and self._early is not None:
            self._pending.pop(command_id, None)
            self._early.pop(command_id, None)

    def in_doubt(self, command_id: str) -> None:
        """Refused as in doubt, the command may still run: if its result comes, it goes out
        at once with its `ref` (no `command_received` will come first)."""
        early = self._early.pop(command_id, None) if self._early is not None else None
        if early is not None:  # it ran, and its result overtook the doubt
            self.send(early)

    def received(self, command_id: str, ref: str | None, queued_ahead: int | None = None) -> None:
        """Answer `command_received` (with the backlog, when long), then a result that
        overtook it (a loaded machine)."""
        data: dict[str, Any] = {"command_id": command_id}
        if queued_ahead is not None:
            data["queued_ahead"] = queued_ahead
        self.reply("command_received", data, ref)
        early = self._early.pop(command_id, None) if self._early is not None else None
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
        pending, early = self._pending, self._early
        if pending and early is not None and frame.startswith(_COMMAND_RESULT_PREFIX):
            command_id = orjson.loads(frame)["data"]["command_id"]
            if command_id in pending:
                ref = pending.pop(command_id)
                if ref is not None:
                    frame = extend(frame, {"ref": ref})
                if command_id in early:
                    early[command_id] = frame  # sent right after command_received
                    return
        if self._replaying:
            held = self._replaying.get(topic)
            if held is not None:
                held.append(frame)  # sent after the replay, so the topic stays in order
                if len(held) > self._out_max:
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
                self.on_membership(self, project_id, bool(data.get("member", False)))

    def hold(self, topic: str) -> None:
        """Keep live frames of `topic` back while its history is replayed."""
        if self._replaying is None:
            self._replaying = {}
        self._replaying.setdefault(topic, [])

    def release(self, topic: str, last_seq: int) -> None:
        """End a replay: send the held frames the replay did not already cover."""
        for frame in self._replaying.pop(topic, []) if self._replaying is not None else ():
            mark = position_of(frame)
            if mark is None or mark.seq > last_seq:
                self.send(frame)

    async def wait_for_room(self, within_s: float) -> None:
        """Wait until the send queue has room; close the socket as too slow if none comes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while self.full:
            if loop.time() >= deadline:
                self.close(CLOSE_TOO_SLOW, "too slow to read")
                return
            room = self._room = self._room or asyncio.Event()
            room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(room.wait(), max(0.0, deadline - loop.time()))

    async def send_paced(self, frame: bytes, within_s: float) -> bool:
        """Queue a frame, waiting for room (a replay must not overflow the queue by itself)."""
        await self.wait_for_room(within_s)
        if self.close_code is not None:
            return False
        self.send(frame)
        return True


class Tally:
    """A count kept as a plain integer (a Prometheus counter per frame costs a lock)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class TallyCollector(Collector):
    """Exports a `Tally` as a Prometheus counter family."""

    def __init__(self, name: str, documentation: str, tally: Tally) -> None:
        self._name, self._documentation, self._tally = name, documentation, tally

    def collect(self) -> Iterator[Metric]:
        """The counter's one sample (`<name>_total`)."""
        yield CounterMetricFamily(self._name, self._documentation, value=self._tally.count)


def evict_frame(session_id: str) -> bytes:
    """The control frame that closes one session (4409) on whichever gateway holds it."""
    return orjson.dumps({"event": _EVICT, "data": {"session_id": session_id}})
