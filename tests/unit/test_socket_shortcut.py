"""WebSockets of a component's own paths skip the HTTP middleware; other scopes do not."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.adapters import Adapters
from services.common.http import SocketEndpoint, host_app, new_registry


class Echo:
    """A component with one WebSocket path."""

    name = "echo"

    def __init__(self) -> None:
        self.router = APIRouter()

    async def start(self, adapters: Adapters) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    def websocket_endpoints(self) -> dict[str, SocketEndpoint]:
        """`/echo`."""
        return {"/echo": self.echo}

    async def echo(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()


def test_a_socket_of_a_known_path_skips_the_middleware() -> None:
    seen: list[str] = []

    class Recording:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(f"{scope['type']} {scope['path']}")
            await self.app(scope, receive, send)

    async def connect() -> Adapters:
        raise AssertionError("not started in this test")

    app = host_app("echo", [Echo()], new_registry(), connect)
    app.add_middleware(Recording)
    client = TestClient(app)
    with client.websocket_connect("/echo") as socket:
        socket.send_text("hi")
        assert socket.receive_text() == "hi"
    assert client.get("/healthz").status_code == 200
    assert seen == ["http /healthz"]
