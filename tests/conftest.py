"""Fixtures shared by every test: the real backends and a unique namespace per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from services.common.bus_amqp import delete_topology
from services.common.topology import Topology
from tests.services_env import Backends, find_backends


@pytest.fixture(scope="session")
def backends() -> Iterator[Backends]:
    """The RabbitMQ and Redis the tests use (never skipped: fails with what to start)."""
    containers: list[object] = []
    yield find_backends(containers)
    for container in containers:
        container.stop()  # type: ignore[attr-defined]


def new_namespace() -> str:
    """A namespace no other test run uses."""
    return f"test-{uuid.uuid4().hex[:10]}"


async def drop_namespace(backends: Backends, namespace: str) -> None:
    """Delete every exchange, queue and Redis key of a namespace."""
    await delete_topology(backends.amqp_url, Topology(namespace))
    redis = Redis.from_url(backends.redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{namespace}:*", count=1000)]
        for start in range(0, len(keys), 500):
            await redis.delete(*keys[start : start + 500])
    finally:
        await redis.aclose()


@pytest.fixture
async def namespace(backends: Backends) -> AsyncIterator[str]:
    """A fresh namespace, cleaned up after the test."""
    name = new_namespace()
    yield name
    await asyncio.wait_for(drop_namespace(backends, name), timeout=30)
