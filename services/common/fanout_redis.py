"""Fan-out on Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from .fanout import OnMessage, Subscriber
from .topology import Topology

log = logging.getLogger(__name__)


class RedisSubscriber:
    """One pub/sub connection and the task that reads it."""

    def __init__(self, pubsub: PubSub, prefix: str, on_message: OnMessage) -> None:
        self._pubsub = pubsub
        self._prefix = prefix
        self._on_message = on_message
        self._task: asyncio.Task[None] | None = None

    async def start(self, keepalive_channel: str) -> None:
        # A subscription that always exists keeps the connection open for the reader.
        await self._pubsub.subscribe(keepalive_channel)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        prefix_len = len(self._prefix)
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fan-out subscription failed; reconnecting")
                await asyncio.sleep(0.5)
                continue
            if message is None or message["type"] != "message":
                continue
            channel: bytes = message["channel"]
            if channel.startswith(self._prefix.encode()):
                self._on_message(channel[prefix_len:].decode(), message["data"])

    async def subscribe(self, topic: str) -> None:
        await self._pubsub.subscribe(self._prefix + topic)

    async def unsubscribe(self, topic: str) -> None:
        await self._pubsub.unsubscribe(self._prefix + topic)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]


class RedisFanout:
    """`Fanout` on Redis pub/sub, one channel per topic under the namespace."""

    def __init__(self, redis: Redis, topology: Topology) -> None:
        self._redis = redis
        self._prefix = topology.key("fanout", "")
        self._keepalive = topology.key("fanout-keepalive")

    async def publish(self, topic: str, frame: bytes) -> None:
        await self._redis.publish(self._prefix + topic, frame)

    async def subscriber(self, on_message: OnMessage) -> Subscriber:
        subscriber = RedisSubscriber(self._redis.pubsub(), self._prefix, on_message)
        await subscriber.start(self._keepalive)
        return subscriber

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        return None
