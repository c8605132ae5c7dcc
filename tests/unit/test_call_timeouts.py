"""The timeouts of calls to other servers are settings: a server that stops answering holds
a caller for that long, not longer (HUDDLE_JWKS_FETCH_TIMEOUT_S, HUDDLE_REDIS_SOCKET_TIMEOUT_S).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.auth.keys import Keyring
from services.common.adapters import redis_pool
from services.common.keys import token_verifier
from services.common.settings import CommonSettings
from services.common.tokens import InvalidToken
from tests.unit.test_jwks_source import Jwks, token

JWKS_DELAY_S = 1.5


@pytest.fixture
def slow_jwks() -> Iterator[tuple[str, Keyring]]:
    """An auth service whose JWKS answers after `JWKS_DELAY_S`; its base URL and keyring."""
    keyring = Keyring.generate()
    served = Jwks(delay_s=JWKS_DELAY_S)
    served.keys = keyring.jwks()
    yield served.base_url, keyring
    served.server.shutdown()


@pytest.mark.parametrize(("timeout_s", "verified"), [(0.3, False), (4.0, True)])
async def test_a_jwks_fetch_waits_at_most_its_timeout(
    slow_jwks: tuple[str, Keyring], timeout_s: float, verified: bool
) -> None:
    url, keyring = slow_jwks
    settings = CommonSettings(
        auth_url=url, jwks_fetch_timeout_s=timeout_s, jwt_issuer="i", jwt_audience="a"
    )
    verifier = token_verifier(settings)
    started = time.monotonic()
    if verified:
        assert (await verifier.verify(token(keyring))).user.id == "u"
    else:
        with pytest.raises(InvalidToken, match="unknown key"):
            await verifier.verify(token(keyring))
        assert time.monotonic() - started < JWKS_DELAY_S


@pytest.fixture
async def silent_redis() -> AsyncIterator[str]:
    """A TCP server that takes connections and never answers; its redis:// URL."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
    server.close()


async def test_a_redis_call_fails_after_its_socket_timeout(silent_redis: str) -> None:
    settings = CommonSettings(redis_url=silent_redis, redis_socket_timeout_s=0.3, redis_retries=0)
    redis = Redis.from_pool(redis_pool(settings))
    started = time.monotonic()
    try:
        with pytest.raises(RedisTimeoutError):
            await redis.get("anything")
    finally:
        await redis.aclose()
    assert 0.3 <= time.monotonic() - started < 2.0
