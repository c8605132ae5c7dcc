"""Brute force and abuse: login throttling per user and per address, connection rate per address."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from services.auth.settings import AuthSettings
from services.auth.throttle import Policy
from services.gateway.settings import GatewaySettings
from tests.security.huddle import Socket, running

FAST = {"login_backoff_base_s": 0.2, "login_backoff_max_s": 2.0, "login_free_failures": 5}


def test_100_wrong_passwords_are_throttled_with_retry_after() -> None:
    """After the free failures: 429 with Retry-After, even for the right password; never 5xx."""
    with running(auth={**FAST, "login_free_failures_per_address": 1000}) as huddle:
        huddle.create_user("victim")
        statuses = []
        for i in range(100):
            response = huddle.http.post(
                "/auth/login", json={"username": "victim", "password": f"guess-{i}"}
            )
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) >= 1
                assert response.json()["error"]["code"] == "rate_limited"
        assert set(statuses) <= {401, 429}
        assert statuses[:5] == [401] * 5
        assert statuses.count(429) >= 90  # the guesses stopped being checked
        right = {"username": "victim", "password": "victim-long-password"}
        assert huddle.http.post("/auth/login", json=right).status_code == 429
        time.sleep(2.1)  # the lock-out is capped at 2 s here
        assert huddle.http.post("/auth/login", json=right).status_code == 200
        # A success starts the user's count over.
        assert huddle.http.post("/auth/login", json={**right, "password": "x"}).status_code == 401


def test_the_lock_out_doubles_with_each_failure() -> None:
    """Exponential back-off: base, 2x, 4x ... up to the maximum."""
    policy = Policy(free=5, base_s=1.0, max_s=900.0, window_s=900)
    assert [policy.lock_s(n) for n in range(4, 10)] == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0]
    assert policy.lock_s(1000) == 900.0


def test_one_address_guessing_many_users_is_throttled() -> None:
    """Per address: spreading guesses over many usernames does not escape the lock-out."""
    auth = {**FAST, "login_free_failures": 100, "login_free_failures_per_address": 10}
    with running(auth=auth) as huddle:
        statuses = [
            huddle.http.post(
                "/auth/login", json={"username": f"user{i}", "password": "guess"}
            ).status_code
            for i in range(30)
        ]
        assert statuses[:10] == [401] * 10 and statuses.count(429) >= 15
        # Another address is not affected (X-Forwarded-For counts only from trusted proxies).
        spoofed = huddle.http.post(
            "/auth/login",
            json={"username": "demo", "password": "demo"},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        assert spoofed.status_code == 429


def test_trusted_proxies_name_the_client_address() -> None:
    """Behind a trusted proxy, the address is the last hop the proxy appended."""
    auth = {
        **FAST,
        "login_free_failures": 100,
        "login_free_failures_per_address": 2,
        "trusted_proxies": ("127.0.0.1/32",),
    }
    with running(auth=auth) as huddle:
        # The test client's peer ("testclient") is no proxy of ours: its header is ignored.
        for _ in range(3):
            huddle.http.post(
                "/auth/login",
                json={"username": "demo", "password": "wrong"},
                headers={"X-Forwarded-For": "198.51.100.1"},
            )
        blocked = huddle.http.post(
            "/auth/login",
            json={"username": "demo", "password": "demo"},
            headers={"X-Forwarded-For": "198.51.100.2"},
        )
        assert blocked.status_code == 429


def test_connection_rate_per_address_on_ws() -> None:
    """Over the burst, a new socket is closed 4429 before it may authenticate."""
    with running(gateway={"connect_burst": 3, "connect_rate_per_s": 0.01}) as huddle:
        token = huddle.token()
        for _ in range(3):
            with huddle.socket(token) as socket:
                assert socket.answer("ping")["event"] == "pong"
        with huddle.http.websocket_connect("/ws") as ws:
            ws.send_json({"event": "auth", "data": {"token": token}})
            assert Socket(ws).closed_with() == 4429


@pytest.mark.parametrize(
    ("factory", "field", "bad"),
    [
        (AuthSettings, "login_free_failures", 0),
        (AuthSettings, "login_backoff_base_s", 0),
        (AuthSettings, "login_failure_window_s", 0),
        (AuthSettings, "login_free_failures_per_address", 0),
        (AuthSettings, "login_backoff_max_s", 0),
        (GatewaySettings, "hsts_max_age_s", -1),
        (GatewaySettings, "connect_burst", 0),
        (GatewaySettings, "connect_rate_per_s", 0),
        (GatewaySettings, "connect_addresses_max", 0),
    ],
)
def test_abuse_limits_are_settings_with_bounds(
    factory: type[AuthSettings] | type[GatewaySettings], field: str, bad: float
) -> None:
    """Every limit is a setting; a value that would disable it refuses to start."""
    assert getattr(factory(), field) > 0
    with pytest.raises(ValidationError):
        factory.model_validate({field: bad})
