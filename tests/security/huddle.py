"""An in-process Huddle (every service on in-process adapters) driven with fastapi's TestClient."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from services.auth.app import AuthService
from services.auth.settings import AuthSettings
from services.common.adapters import Adapters, memory_adapters
from services.common.http import host_app, new_registry
from services.common.store import Entity
from services.embedded import build_components
from services.gateway.settings import GatewaySettings

Frame = dict[str, Any]
PASSWORD_SUFFIX = "-long-password"


@dataclass
class Huddle:
    """One in-process Huddle and a test client on it."""

    http: TestClient
    auth: AuthService
    adapters: Adapters

    def login(self, username: str = "demo", password: str | None = None) -> dict[str, Any]:
        """The token pair of a successful login."""
        password = password if password is not None else _password(username)
        response = self.http.post("/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def token(self, username: str = "demo") -> str:
        return str(self.login(username)["access_token"])

    def portal_get(self, kind: str, key: str) -> Entity | None:
        """Read an entity from the store on the app's event loop."""
        portal = self.http.portal
        assert portal is not None, "use the client as a context manager"
        return portal.call(self.adapters.store.get, kind, key)

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def create_user(self, username: str, roles: tuple[str, ...] = ("member",)) -> str:
        """A new user (password: `<name>-long-password`); returns its id."""
        body = {"username": username, "password": _password(username), "roles": list(roles)}
        response = self.http.post("/auth/users", json=body, headers=self.bearer(self.token()))
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    @contextmanager
    def socket(self, token: str) -> Iterator[Socket]:
        """An authenticated socket."""
        with self.http.websocket_connect("/ws") as ws:
            ws.send_json({"event": "auth", "data": {"token": token}})
            socket = Socket(ws)
            socket.wait_for(lambda f: f["event"] == "connected")
            yield socket


def _password(username: str) -> str:
    return "demo" if username == "demo" else username + PASSWORD_SUFFIX


class Socket:
    """A test client's WebSocket that reads in frame order."""

    def __init__(self, ws: WebSocketTestSession) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self._ids = 0

    def send(self, event: str, data: dict[str, Any] | None = None) -> str:
        self._ids += 1
        frame_id = f"f{self._ids}"
        self.ws.send_json({"event": event, "data": data or {}, "id": frame_id})
        return frame_id

    def wait_for(self, predicate: Callable[[Frame], bool], limit: int = 500) -> Frame:
        """Read until a frame matches (earlier frames are kept in `frames`)."""
        for _ in range(limit):
            frame: Frame = self.ws.receive_json()
            self.frames.append(frame)
            if predicate(frame):
                return frame
        raise AssertionError(f"no matching frame in {limit}; last {self.frames[-5:]}")

    def answer(self, event: str, data: dict[str, Any] | None = None) -> Frame:
        """Send a frame and return the first frame answering it (`ref`)."""
        ref = self.send(event, data)
        return self.wait_for(lambda f: f.get("ref") == ref)

    def command(self, text: str, project_id: str | None = None) -> Frame:
        """Send a command; its `command_result`, or the `error` that refused it."""
        data: dict[str, Any] = {"command": text}
        if project_id is not None:
            data |= {"project_id": project_id, "channel": "general"}
        received = self.answer("command", data)
        if received["event"] == "error":
            return received
        command_id = received["data"]["command_id"]
        return self.wait_for(
            lambda f: f["event"] == "command_result" and f["data"]["command_id"] == command_id
        )

    def closed_with(self) -> int:
        """Read until the server closes the socket; its close code."""
        from starlette.websockets import WebSocketDisconnect

        try:
            for _ in range(1000):
                self.frames.append(self.ws.receive_json())
        except WebSocketDisconnect as closed:
            return int(closed.code)
        raise AssertionError("the socket stayed open")


def build(
    auth: dict[str, Any] | None = None, gateway: dict[str, Any] | None = None
) -> tuple[TestClient, AuthService, Adapters]:
    """Every service in one app on in-process adapters (not started: use the client as a CM)."""
    namespace = f"sec-{uuid.uuid4().hex[:8]}"
    auth_settings = AuthSettings(namespace=namespace, env="development", **(auth or {}))
    gateway_settings = GatewaySettings(namespace=namespace, **(gateway or {}))
    registry = new_registry()
    components = build_components(
        registry, auth_settings=auth_settings, gateway_settings=gateway_settings
    )
    adapters = memory_adapters(gateway_settings)

    async def connect() -> Adapters:
        return adapters

    app = host_app(
        "test huddle",
        components,
        registry,
        connect,
        static_dir=gateway_settings.web_dir,
        settings=gateway_settings,
    )
    service = components[0]
    assert isinstance(service, AuthService)
    return TestClient(app), service, adapters


@contextmanager
def running(
    auth: dict[str, Any] | None = None, gateway: dict[str, Any] | None = None
) -> Iterator[Huddle]:
    """A started in-process Huddle."""
    client, service, adapters = build(auth, gateway)
    with client:
        yield Huddle(client, service, adapters)
