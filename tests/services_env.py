"""Finding RabbitMQ and Redis for tests: the environment, localhost, or testcontainers."""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest


@dataclass(frozen=True)
class Backends:
    amqp_url: str
    redis_url: str


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def find_backends(stack: list[object]) -> Backends:
    """RabbitMQ and Redis from HUDDLE_AMQP_URL / HUDDLE_REDIS_URL (default localhost).

    Where they do not answer and Docker exists, start them with testcontainers; otherwise fail
    with what to start. `stack` collects containers to stop at the end.
    """
    amqp = os.environ.get("HUDDLE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    redis = os.environ.get("HUDDLE_REDIS_URL", "redis://127.0.0.1:6379/0")
    amqp_ok, redis_ok = _reachable(amqp, 5672), _reachable(redis, 6379)
    if amqp_ok and redis_ok:
        return Backends(amqp, redis)
    if shutil.which("docker") and os.path.exists("/var/run/docker.sock"):
        from testcontainers.rabbitmq import RabbitMqContainer
        from testcontainers.redis import RedisContainer

        if not amqp_ok:
            rabbit = RabbitMqContainer("rabbitmq:3.13-management").start()
            stack.append(rabbit)
            host, port = rabbit.get_container_host_ip(), rabbit.get_exposed_port(5672)
            amqp = f"amqp://guest:guest@{host}:{port}/"
        if not redis_ok:
            container = RedisContainer("redis:7").start()
            stack.append(container)
            host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
            redis = f"redis://{host}:{port}/0"
        return Backends(amqp, redis)
    missing = [
        name
        for name, ok in (("RabbitMQ at " + amqp, amqp_ok), ("Redis at " + redis, redis_ok))
        if not ok
    ]
    pytest.fail(
        f"{' and '.join(missing)} not reachable and no Docker for testcontainers. Start them "
        "(`rabbitmq-server -detached`; `redis-server --daemonize yes`) or point "
        "HUDDLE_AMQP_URL / HUDDLE_REDIS_URL at running ones.",
        pytrace=False,
    )
