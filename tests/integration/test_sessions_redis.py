"""Sessions on Redis: the per-gateway counts stay in step with the users' sets over time."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from services.common.sessions import RedisSessions
from services.common.topology import Topology
from tests.services_env import Backends


async def test_a_forgotten_gateway_leaves_no_count_behind(
    backends: Backends, namespace: str
) -> None:
    """Gateway ids die with their process: once the census forgot one, cleaning up its last
    sockets later must not leave a (negative) count for it in the hash."""
    redis = Redis.from_url(backends.redis_url)
    topology = Topology(namespace)
    sessions = RedisSessions(redis, topology, forget_after_s=0.2)
    try:
        await sessions.heartbeat("gw-old", 0.1)
        await sessions.open("u1", "s-old", "gw-old", 5)
        await asyncio.sleep(0.4)
        assert await sessions.census() == {}  # dead, then forgotten with its count
        await sessions.heartbeat("gw-new", 30)
        assert await sessions.open("u1", "s-new", "gw-new", 5) == []  # drops s-old's entry
        assert await redis.hgetall(topology.key("gateway-sockets")) == {b"gw-new": b"1"}
        assert await sessions.census() == {"gw-new": 1}
    finally:
        await redis.aclose()
