"""A pub/sub connection that drops and comes straight back still fills its gap from history.

redis-py reconnects and re-subscribes by itself, too quickly for the probes to miss one, but
what was published meanwhile is gone: the subscriber must ask its owner to resync.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from services.common.fanout_redis import RedisFanout, RedisSubscriber
from services.common.topology import Topology
from tests.services_env import Backends


async def test_a_quick_reconnect_of_the_subscription_resyncs(
    backends: Backends, namespace: str
) -> None:
    redis = Redis.from_url(backends.redis_url)
    fanout = RedisFanout(redis, Topology(namespace), probe_s=1.0)
    received: asyncio.Queue[bytes] = asyncio.Queue()
    resynced = asyncio.Event()

    async def resync() -> None:
        resynced.set()

    subscriber = await fanout.subscriber(lambda topic, frame: received.put_nowait(frame), resync)
    assert isinstance(subscriber, RedisSubscriber)
    try:
        await subscriber.subscribe("channel:p/general")
        await fanout.publish("channel:p/general", b"before")
        assert await asyncio.wait_for(received.get(), 5) == b"before"

        # The server drops this subscriber's connection (as on a Redis restart, or an output
        # buffer past its limit); nothing else.
        connection = subscriber._pubsub.connection
        assert connection is not None and connection._writer is not None
        host, port = connection._writer.get_extra_info("sockname")[:2]
        assert await redis.client_kill(f"{host}:{port}")

        await asyncio.wait_for(resynced.wait(), 5)
        assert subscriber.healthy  # the probes never missed: only the reconnect told
        await fanout.publish("channel:p/general", b"after")  # subscribed again, too
        assert await asyncio.wait_for(received.get(), 5) == b"after"
    finally:
        await subscriber.close()
        await redis.aclose()
