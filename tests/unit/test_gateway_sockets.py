"""The gateway's socket rules, hosted in process with a keyring the test controls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.auth.keys import Keyring, access_claims
from services.common.adapters import Adapters, memory_adapters
from services.common.http import host_app, new_registry
from services.gateway.app import GatewayService
from services.gateway.settings import GatewaySettings

KEYRING = Keyring.generate()


def token(ttl_s: int = 60, user_id: str = "u1") -> str:
    return KEYRING.sign(
        access_claims(
            user_id=user_id,
            username=user_id,
            roles=["member"],
            session_id="s",
            issuer="huddle-auth",
            audience="huddle",
            ttl_s=ttl_s,
        )
    )


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = GatewaySettings(namespace="unit", token_leeway_s=0)
    registry = new_registry()
    gateway = GatewayService(settings, registry, keys=KEYRING, public_auth_url="")
    adapters = memory_adapters(settings)

    async def connect() -> Adapters:
        return adapters

    app = host_app("test gateway", [gateway], registry, connect)
    with TestClient(app) as test_client:
        yield test_client


def authenticate(ws: Any, jwt: str) -> dict[str, Any]:
    ws.send_json({"event": "auth", "data": {"token": jwt}})
    connected: dict[str, Any] = ws.receive_json()
    assert connected["event"] == "connected"
    return connected


def test_socket_closes_4401_when_its_token_expires(client: TestClient) -> None:
    """No refresh before expiry: the server closes the socket 4401."""
    with client.websocket_connect("/ws") as ws:
        authenticate(ws, token(ttl_s=1))
        started = time.monotonic()
        message = ws.receive()
        assert message == {"type": "websocket.close", "code": 4401, "reason": "token expired"}
        assert time.monotonic() - started < 5


def test_in_band_refresh_keeps_the_socket_open(client: TestClient) -> None:
    """`auth` with a fresh token on an open socket answers `auth_refreshed`."""
    with client.websocket_connect("/ws") as ws:
        authenticate(ws, token(ttl_s=1))
        ws.send_json({"event": "auth", "data": {"token": token(ttl_s=60)}, "id": "r"})
        refreshed = ws.receive_json()
        assert refreshed["event"] == "auth_refreshed" and refreshed["ref"] == "r"
        time.sleep(1.5)
        ws.send_json({"event": "ping", "id": "p"})
        assert ws.receive_json()["event"] == "pong"


def test_refresh_with_another_users_token_closes_4401(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        authenticate(ws, token())
        ws.send_json({"event": "auth", "data": {"token": token(user_id="u2")}})
        assert ws.receive()["code"] == 4401


def test_connected_describes_the_session(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        data = authenticate(ws, token())["data"]
    assert data["user"] == {"id": "u1", "username": "u1", "roles": ["member"]}
    assert data["heartbeat_interval_s"] == 25.0 and data["session_id"]
