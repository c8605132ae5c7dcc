"""Fixtures of the fault tests: backends of their own that a test may stop and restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.private_rabbitmq import PrivateRabbitMQ, private_rabbitmq
from tests.faults.private_redis import PrivateRedis, private_redis


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A private Redis with an append-only file, for one test module."""
    with private_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def rabbitmq() -> Iterator[PrivateRabbitMQ]:
    """A private RabbitMQ node, for one test module."""
    with private_rabbitmq() as server:
        yield server
