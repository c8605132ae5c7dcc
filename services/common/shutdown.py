"""Closing WebSockets with 1001 (going away) when the server stops, so clients resume elsewhere."""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

GOING_AWAY = 1001


class GoingAwayProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, but shutdown closes with 1001 instead of 1012.

    On SIGTERM uvicorn stops accepting, then shuts every open connection down before the
    application's own shutdown runs; the stock protocol says 1012 (service restart) there.
    """

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
