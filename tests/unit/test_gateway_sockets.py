"""The gateway's socket rules, hosted in process with a keyring the test controls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.auth.keys import Keyring, access_claims
from services.common.adapters import Adapters, memory_adapters
from services.common.bus import QueueStats
from services.common.http import host_app, new_registry
from services.common.topology import ORCHESTRATOR_QUEUE
from services.gateway.app import GatewayService
from services.gateway.backlog import CommandBacklog
from services.gateway.settings import GatewaySettings

KEYRING = Keyring.generate()
# A board change a member of project `p` may ask for (the project's mode).
MODE_CHANGE = {
    "change_id": "ch1",
    "entity_type": "project",
    "entity_id": "p",
    "field": "mode",
    "old_value": "blocking",
    "new_value": "autonomous",
}


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


def gateway_client(adapters: Adapters | None = None, **overrides: Any) -> TestClient:
    settings = GatewaySettings(namespace="unit", token_leeway_s=0, **overrides)
    registry = new_registry()
    gateway = GatewayService(settings, registry, keys=KEYRING, public_auth_url="")
    adapters = adapters or memory_adapters(settings)

    async def connect() -> Adapters:
        return adapters

    app = host_app("test gateway", [gateway], registry, connect)
    return TestClient(app)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with gateway_client() as test_client:
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


def test_rate_limit_at_its_boundary() -> None:
    """`burst` frames pass, the next is `rate_limited` with its ref; the socket stays open."""
    with (
        gateway_client(rate_limit_per_s=0.001, rate_limit_burst=10, rate_limit_strikes=3) as tc,
        tc.websocket_connect("/ws") as ws,
    ):
        authenticate(ws, token())  # the auth frame is not counted
        for i in range(10):
            ws.send_json({"event": "ping", "id": f"p{i}"})
            assert ws.receive_json()["event"] == "pong"
        ws.send_json({"event": "ping", "id": "over"})
        refused = ws.receive_json()
        assert refused == {
            "event": "error",
            "data": {"code": "rate_limited", "message": "too many frames: slow down"},
            "ref": "over",
        }


def test_repeated_abuse_closes_4429() -> None:
    with (
        gateway_client(rate_limit_per_s=0.001, rate_limit_burst=1, rate_limit_strikes=3) as tc,
        tc.websocket_connect("/ws") as ws,
    ):
        authenticate(ws, token())
        ws.send_json({"event": "ping"})
        assert ws.receive_json()["event"] == "pong"
        for _ in range(3):
            ws.send_json({"event": "ping"})
        codes = [ws.receive_json()["data"]["code"] for _ in range(3)]
        assert codes == ["rate_limited"] * 3
        assert ws.receive() == {
            "type": "websocket.close",
            "code": 4429,
            "reason": "rate limit exceeded repeatedly",
        }


def test_frame_size_at_its_boundary() -> None:
    """A frame of exactly `max_frame_bytes` is read; one byte more closes 1009."""
    with gateway_client(max_frame_bytes=2048) as tc, tc.websocket_connect("/ws") as ws:
        authenticate(ws, token())
        frame = '{"event":"ping","id":"x","data":{}}'
        padded = frame[:-2] + " " * (2048 - len(frame)) + "}}"
        assert len(padded.encode()) == 2048
        ws.send_text(padded)
        assert ws.receive_json()["event"] == "pong"
        ws.send_text(padded[:-2] + " }}")
        assert ws.receive()["code"] == 1009


def test_connection_limit_closes_the_oldest_with_4409() -> None:
    """`max_connections_per_user` sockets stay; one more closes the oldest."""
    with (
        gateway_client(max_connections_per_user=2) as tc,
        tc.websocket_connect("/ws") as first,
        tc.websocket_connect("/ws") as second,
    ):
        authenticate(first, token())
        authenticate(second, token())
        second.send_json({"event": "ping", "id": "still"})
        assert second.receive_json()["ref"] == "still"
        with tc.websocket_connect("/ws") as third:
            authenticate(third, token())
            assert first.receive() == {
                "type": "websocket.close",
                "code": 4409,
                "reason": "replaced by a newer connection of this user",
            }
            third.send_json({"event": "ping", "id": "new"})
            assert third.receive_json()["ref"] == "new"
            second.send_json({"event": "ping", "id": "kept"})
            assert second.receive_json()["ref"] == "kept"


def test_command_received_tells_the_backlog_from_its_threshold() -> None:
    """With no orchestrator consuming, commands pile up: `command_received` says how many
    wait (`queued_ahead`) once they are `HUDDLE_BACKLOG_NOTICE` or more, not before."""
    with (
        gateway_client(backlog_notice=3, backlog_poll_s=0.02) as tc,
        tc.websocket_connect("/ws") as ws,
    ):
        authenticate(ws, token())
        told: list[int | None] = []
        for i in range(5):
            ws.send_json({"event": "command", "id": f"c{i}", "data": {"command": "/help"}})
            received = ws.receive_json()
            assert received["event"] == "command_received" and received["ref"] == f"c{i}"
            told.append(received["data"].get("queued_ahead"))
            time.sleep(0.1)  # a poll or more: the gateway has read the queue's depth
        assert told == [None, None, None, 3, 4]


def test_a_command_frame_as_the_seed_sends_it_is_accepted() -> None:
    """The seed's example carries `timestamp` (ignored); other unknown fields stay refused."""
    with gateway_client() as tc, tc.websocket_connect("/ws") as ws:
        authenticate(ws, token())
        data = {"command": "/help", "timestamp": "2024-01-15T10:30:00Z"}
        ws.send_json({"event": "command", "id": "c1", "data": data})
        assert ws.receive_json()["event"] == "command_received"
        ws.send_json({"event": "command", "id": "c2", "data": {**data, "when": "now"}})
        refused = ws.receive_json()
        assert (refused["event"], refused["data"]["code"]) == ("error", "bad_request")


async def test_backlog_unknown_when_the_broker_does_not_answer() -> None:
    """A failed read forgets the last depth: no client is told a stale number."""

    class Flaky:
        def __init__(self) -> None:
            self.fail = False

        async def queue_stats(self, only: object = None) -> dict[str, QueueStats]:
            if self.fail:
                raise ConnectionError("broker gone")
            return {ORCHESTRATOR_QUEUE: QueueStats(500, 0)}

    bus = Flaky()
    backlog = CommandBacklog(bus, interval_s=60, notice_at=100)  # type: ignore[arg-type]
    await backlog.poll()
    assert backlog.ahead() == 500
    bus.fail = True
    await backlog.poll()
    assert backlog.ahead() is None
    bus.fail = False
    await backlog.poll()
    assert backlog.ahead() == 500
