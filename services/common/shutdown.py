"""The gateway's WebSocket protocol: 1001 (going away) at shutdown, and a synchronous send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

GOING_AWAY = 1001
# ASGI scope extensions this protocol offers (see `services/gateway/connection.py`).
SEND_NOW = "huddle.send_now"
WAIT_WRITABLE = "huddle.wait_writable"


class SocketClosed(ConnectionError):
    """The socket takes no more frames."""


class GoingAwayProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, but shutdown closes with 1001 instead of 1012.

    On SIGTERM uvicorn stops accepting, then shuts every open connection down before the
    application's own shutdown runs; the stock protocol says 1012 (service restart) there.

    It also offers the application, as scope extensions, `send_now(frame) -> bool`: write a
    text frame at once if the socket is writable (no task, no ASGI message), and
    `wait_writable()`. A server's frames are not masked, so one event fanned out to many
    sockets is framed once: the last frame's wire bytes are kept for the next socket.
    """

    _last_frame: ClassVar[tuple[bytes, bytes]] = (b"", b"")

    def handle_connect(self, event: Request) -> None:
        """Accept the handshake as uvicorn does, and offer the extensions to the app."""
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            extensions: dict[str, object] = scope["extensions"]
            extensions[SEND_NOW] = self.send_now
            extensions[WAIT_WRITABLE] = self.writable.wait

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
        """Tell the application and the peer that this server is going away."""
        if self.close_sent or not self.handshake_complete:
            super().shutdown()
            return
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
        self.conn.send_close(GOING_AWAY, "server shutting down")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()


SendNow = Callable[[bytes], bool]
WaitWritable = Callable[[], Awaitable[Any]]
