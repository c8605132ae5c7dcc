"""The gateway's WebSocket protocol: 1001 (going away) at shutdown, and a synchronous send."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Literal

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

GOING_AWAY = 1001
# Marks the `websocket.disconnect` that shutdown hands the app: the server is leaving, the
# client is not; the socket is still open for the answers to frames already read. Its value is
# the deadline (the event loop's clock) by which the app answers them and closes 1001.
SERVER_LEAVING = "huddle.server_leaving"
_BACKSTOP_S = 1.0  # past the deadline, the protocol closes a socket the app did not
# ASGI scope extensions this protocol offers (see `services/gateway/connection.py`).
SEND_NOW = "huddle.send_now"
WAIT_WRITABLE = "huddle.wait_writable"
# Called (no arguments) when shutdown begins, if the app put it in the scope's extensions.
ON_LEAVING = "huddle.on_leaving"
# Called with the bytes of each frame that comes once shutdown began (the app reads no more);
# returns the bytes of a text frame to answer it with, or None. Put in the scope's extensions
# by the app: which frames need an answer is the app's business.
REFUSE_WHILE_LEAVING = "huddle.refuse_while_leaving"


class SocketClosed(ConnectionError):
    """The socket takes no more frames."""


def _wake(waiting: list[asyncio.Future[None]]) -> None:
    for waiter in waiting:
        if not waiter.done():
            waiter.set_result(None)


async def _wait_until(ready: Callable[[], object], waiting: list[asyncio.Future[None]]) -> None:
    while not ready():
        waiter = asyncio.get_running_loop().create_future()
        waiting.append(waiter)
        try:
            await waiter
        finally:
            waiting.remove(waiter)


class Inbox(asyncio.Queue[Any]):
    """The few `asyncio.Queue` methods uvicorn's protocol uses, over one list.

    A socket's protocol keeps its inbox as long as it is open: asyncio's queue holds four
    deques (about 3 KB), this holds one list.
    """

    def __init__(self) -> None:  # no super().__init__: none of its state is used
        self._items: list[Any] = []
        self._waiting: list[asyncio.Future[None]] = []

    def put_nowait(self, item: Any) -> None:
        """Add an item and wake whoever waits for one."""
        self._items.append(item)
        _wake(self._waiting)

    async def get(self) -> Any:
        """The oldest item, waiting for one."""
        await _wait_until(self.qsize, self._waiting)
        return self._items.pop(0)

    def __repr__(self) -> str:
        return f"<Inbox {len(self._items)} items>"

    def empty(self) -> bool:
        """Whether nothing waits to be read."""
        return not self._items

    def qsize(self) -> int:
        """How many items wait to be read."""
        return len(self._items)


class Flag(asyncio.Event):
    """`asyncio.Event` over a list of waiters (its deque costs about 600 bytes per socket)."""

    def __init__(self) -> None:  # no super().__init__: its deque is what is saved
        self._up = False
        self._waiting: list[asyncio.Future[None]] = []

    def __repr__(self) -> str:
        return f"<Flag {'up' if self._up else 'down'}>"

    def is_set(self) -> bool:
        """Whether the flag is up."""
        return self._up

    def set(self) -> None:
        """Raise the flag and wake every waiter."""
        self._up = True
        _wake(self._waiting)

    def clear(self) -> None:
        """Lower the flag."""
        self._up = False

    async def wait(self) -> Literal[True]:
        """Wait until the flag is up."""
        await _wait_until(self.is_set, self._waiting)
        return True


class GoingAwayProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, but shutdown lets the app answer, then says 1001.

    On SIGTERM uvicorn stops accepting, then shuts every open connection down before the
    application's own shutdown runs; the stock protocol closes at once with 1012 (service
    restart), so a command the app had read and published lost its `command_received` and
    the client could not tell whether it ran. Here shutdown only stops the app reading: it
    answers what it read, then closes with 1001 (`SERVER_LEAVING` on its disconnect), within
    `drain_s`; a frame that comes meanwhile is not read but answered here, with what the app's
    `REFUSE_WHILE_LEAVING` extension says. A socket still open a second after that is closed
    1001 all the same.

    It also offers the application, as scope extensions, `send_now(frame) -> bool`: write a
    text frame at once if the socket is writable (no task, no ASGI message), and
    `wait_writable()`. A server's frames are not masked, so one event fanned out to many
    sockets is framed once: the last frame's wire bytes are kept for the next socket.
    """

    _last_frame: ClassVar[tuple[bytes, bytes]] = (b"", b"")
    drain_s: ClassVar[float] = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()
        self.writable = Flag()
        self.writable.set()
        self._leaving: asyncio.TimerHandle | None = None

    def handle_connect(self, event: Request) -> None:
        """Accept the handshake as uvicorn does, and offer the extensions to the app."""
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            extensions: dict[str, object] = scope["extensions"]
            extensions[SEND_NOW] = self.send_now
            extensions[WAIT_WRITABLE] = self.writable.wait

    async def send(self, message: ASGISendEvent) -> None:
        """uvicorn's send; once the handshake is answered, its request and response go."""
        await super().send(message)
        if message["type"] == "websocket.accept":
            # Kept for as long as the socket is open, never read again: ~2.5 KB. The parser of
            # `websockets` holds the request too (a local of its generator): emptied.
            request = self.__dict__.pop("request", None)
            if isinstance(request, Request):
                request.headers.clear()
            self.__dict__.pop("response", None)

    def send_now(self, frame: bytes) -> bool:
        """Write a text frame if the socket is writable; False if not now; raises if closed."""
        conn = self.conn
        if self.close_sent or self.disconnected or conn.state is not State.OPEN:
            raise SocketClosed("the socket is closed or closing")
        if not self.writable.is_set():
            return False
        if conn.extensions:  # e.g. compression: the frame depends on this socket's state
            conn.send_text(frame)
            self.transport.write(b"".join(conn.data_to_send()))
            return True
        payload, wire = GoingAwayProtocol._last_frame
        if payload is not frame:
            wire = Frame(Opcode.TEXT, frame).serialize(mask=False)
            GoingAwayProtocol._last_frame = (frame, wire)
        self.transport.write(wire)
        return True

    def shutdown(self) -> None:
        """Stop the app reading; it answers what it read and closes 1001 within `drain_s`."""
        if self.close_sent or not self.handshake_complete:
            super().shutdown()
            return
        self.stop_keepalive()
        deadline = self.loop.time() + self.drain_s
        leaving: Any = {
            "type": "websocket.disconnect",
            "code": GOING_AWAY,
            SERVER_LEAVING: deadline,
        }
        self.queue.put_nowait(leaving)
        self._leaving = self.loop.call_at(deadline + _BACKSTOP_S, self._go_away)
        if self.read_paused:  # the app reads no more: what comes now is answered here
            self.read_paused = False
            self.transport.resume_reading()
        on_leaving = self._app_hook(ON_LEAVING)
        if on_leaving is not None:
            on_leaving()

    def send_receive_event_to_app(self) -> None:
        """uvicorn's; once the server is leaving, a frame is answered here instead, unread."""
        if self._leaving is None or self.close_sent:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        refuse = self._app_hook(REFUSE_WHILE_LEAVING)
        refusal = refuse(bytes(data)) if refuse is not None else None
        if refusal is not None and self.writable.is_set() and self.conn.state is State.OPEN:
            self.conn.send_text(refusal)
            self.transport.write(b"".join(self.conn.data_to_send()))

    def _app_hook(self, name: str) -> Any:
        """What the app put in the scope's extensions under `name` (None if nothing)."""
        scope: Any = getattr(self, "scope", None)
        return scope["extensions"].get(name) if scope is not None else None

    def _go_away(self) -> None:
        if not self.close_sent and self.conn.state is State.OPEN:
            self.conn.send_close(GOING_AWAY, "server shutting down")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn's, and no closing later: the socket is gone."""
        if self._leaving is not None:
            self._leaving.cancel()
        super().connection_lost(exc)


def going_away_protocol(drain_s: float) -> type[GoingAwayProtocol]:
    """The protocol, giving sockets `drain_s` at shutdown to answer the frames already read."""
    return type("GoingAwayProtocol", (GoingAwayProtocol,), {"drain_s": drain_s})


SendNow = Callable[[bytes], bool]
WaitWritable = Callable[[], Awaitable[Any]]
