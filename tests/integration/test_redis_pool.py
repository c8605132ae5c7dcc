"""`HUDDLE_REDIS_MAX_CONNECTIONS` at its boundary: more callers than connections wait their turn."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from services.common.adapters import Adapters, connect_adapters
from services.common.settings import CommonSettings
from tests.services_env import Backends

HOLD_S = 0.2


async def pooled(backends: Backends, namespace: str, **pool: Any) -> Adapters:
    """Adapters on the real broker and Redis with the given pool settings."""
    return await connect_adapters(
        CommonSettings(
            namespace=namespace, amqp_url=backends.amqp_url, redis_url=backends.redis_url, **pool
        )
    )


async def test_callers_beyond_the_pool_wait_instead_of_failing(
    backends: Backends, namespace: str
) -> None:
    adapters = await pooled(backends, namespace, redis_max_connections=2)
    try:
        assert adapters.redis is not None
        started = time.monotonic()
        # Each BLPOP holds its connection for HOLD_S: 6 callers on 2 connections take 3 turns.
        answers = await asyncio.gather(
            *(adapters.redis.blpop([f"{namespace}:nothing"], timeout=HOLD_S) for _ in range(6))
        )
        elapsed = time.monotonic() - started
    finally:
        await adapters.close()
    assert answers == [None] * 6
    assert elapsed >= 3 * HOLD_S - 0.05, "more than 2 connections were used"


async def test_a_caller_that_waits_past_the_pool_timeout_is_refused(
    backends: Backends, namespace: str
) -> None:
    adapters = await pooled(backends, namespace, redis_max_connections=1, redis_pool_timeout_s=0.05)
    try:
        assert adapters.redis is not None
        redis = adapters.redis

        async def hold() -> None:
            await redis.blpop([f"{namespace}:nothing"], timeout=1)

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await adapters.redis.get(f"{namespace}:x")
        assert time.monotonic() - started < 0.9
        await holder
    finally:
        await adapters.close()
