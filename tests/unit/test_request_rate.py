"""The API request limit per client address (HUDDLE_HTTP_RATE_LIMIT_PER_MIN): counted at the
boundary, said in headers, refused with 429 `rate_limited` and `Retry-After`, and only on the
API."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from services.common.adapters import Adapters, memory_adapters
from services.common.http import host_app, new_registry
from services.common.request_rate import RequestCounter, RequestRateLimit, is_limited
from services.common.settings import CommonSettings


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_counter_allows_the_limit_and_refuses_one_more() -> None:
    clock = Clock(1_040.0)  # 20 s into the window from 1020 to 1080
    counter = RequestCounter(3, window_s=60, clock=clock)
    assert [counter.take("a") for _ in range(3)] == [
        (True, 2, 40.0),
        (True, 1, 40.0),
        (True, 0, 40.0),
    ]
    assert counter.take("a") == (False, 0, 40.0)
    assert counter.take("b") == (True, 2, 40.0)  # each address has its own count
    clock.now = 1_080.0  # the next window
    assert counter.take("a") == (True, 2, 60.0)


def test_past_the_address_cap_new_addresses_share_one_count() -> None:
    counter = RequestCounter(2, max_keys=2, clock=Clock())
    assert counter.take("a")[0] and counter.take("b")[0]
    assert counter.take("c") == (True, 1, 20.0)
    assert counter.take("d") == (True, 0, 20.0)  # "c" and "d" are counted together
    assert counter.take("e")[0] is False
    assert counter.take("a") == (True, 0, 20.0)  # known ones keep their own


@pytest.mark.parametrize(
    ("path", "limited"),
    [
        ("/api/projects", True),
        ("/auth/login", True),
        ("/auth/jwks.json", False),
        ("/healthz", False),
        ("/metrics", False),
        ("/js/app.js", False),
        ("/apis", False),
    ],
)
def test_only_the_api_is_limited(path: str, limited: bool) -> None:
    assert is_limited(path) is limited


def limited_app(
    per_minute: int, proxies: tuple[str, ...] = (), peer: str = "testclient"
) -> TestClient:
    app = FastAPI()

    @app.get("/api/thing")
    async def thing() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(
        RequestRateLimit, per_minute=per_minute, trusted_proxies=proxies, clock=Clock(1_050.0)
    )
    return TestClient(app, client=(peer, 50_000))


def test_headers_then_a_429_with_retry_after() -> None:
    client = limited_app(2)
    first = client.get("/api/thing")
    assert first.status_code == 200
    assert (
        first.headers["x-ratelimit-limit"],
        first.headers["x-ratelimit-remaining"],
        first.headers["x-ratelimit-reset"],
    ) == ("2", "1", "30")
    assert client.get("/api/thing").headers["x-ratelimit-remaining"] == "0"
    refused = client.get("/api/thing")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.json() == {
        "error": {
            "code": "rate_limited",
            "message": "too many requests: at most 2 a minute from one address; try again in 30 s",
        }
    }
    health = client.get("/healthz")
    assert health.status_code == 200 and "x-ratelimit-limit" not in health.headers


def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_apart() -> None:
    proxied = limited_app(1, proxies=("10.0.0.0/8",), peer="10.0.0.2")
    assert proxied.get("/api/thing", headers={"X-Forwarded-For": "203.0.113.5"}).is_success
    assert proxied.get("/api/thing", headers={"X-Forwarded-For": "203.0.113.6"}).is_success
    again = proxied.get("/api/thing", headers={"X-Forwarded-For": "203.0.113.5"})
    assert again.status_code == 429
    # From a peer that is not a trusted proxy the header buys nothing.
    direct = limited_app(1, proxies=("10.0.0.0/8",), peer="192.0.2.7")
    assert direct.get("/api/thing").is_success
    forged = direct.get("/api/thing", headers={"X-Forwarded-For": "203.0.113.7"})
    assert forged.status_code == 429


def hosted(**overrides: object) -> TestClient:
    settings = CommonSettings(namespace="rate-test", **overrides)  # type: ignore[arg-type]
    adapters = memory_adapters(settings)
    registry = new_registry()

    async def connect() -> Adapters:
        return adapters

    app = host_app(
        "rate", [], registry, connect, cors_origins=settings.allowed_origins, settings=settings
    )
    return TestClient(app)


def test_in_a_service_the_refusal_has_the_security_and_cors_headers() -> None:
    with hosted(http_rate_limit_per_min=1, cors_origins=("https://chat.example",)) as client:
        origin = {"Origin": "https://chat.example"}
        assert client.get("/api/nothing", headers=origin).status_code == 404  # counted
        refused = client.get("/api/nothing", headers=origin)
        assert refused.status_code == 429
        assert refused.headers["access-control-allow-origin"] == "https://chat.example"
        assert refused.headers["x-content-type-options"] == "nosniff"
        metrics = client.get("/metrics").text
        assert 'status="429"' in metrics


def test_zero_turns_the_limit_off_and_a_negative_limit_is_refused() -> None:
    with hosted(http_rate_limit_per_min=0) as client:
        answers = [client.get("/api/nothing") for _ in range(5)]
        assert {a.status_code for a in answers} == {404}
        assert "x-ratelimit-limit" not in answers[0].headers
    with pytest.raises(ValidationError):
        CommonSettings(http_rate_limit_per_min=-1)
