"""Fan-out on Redis pub/sub, with a probe that notices a lost or wedged subscription."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from .fanout import OnMessage, OnResync, Subscriber
from .topology import Topology

log = logging.getLogger(__name__)


class RedisSubscriber:
    """One pub/sub connection, the task that reads it, and the probe that checks it.

    Every `probe_s` the subscriber publishes to a channel of its own. While the probes come
    back it is healthy; when none came back for three periods it is not, and the connection
    is dropped so redis-py reconnects and re-subscribes. When probes flow again, `on_resync`
    runs so the owner can fill the gap from the history streams. A drop too short for the
    probes to miss (redis-py reconnects on its own and re-subscribes) still lost what was
    published meanwhile: the probe channel's subscription confirmed again says so, and
    `on_resync` runs too.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        on_message: OnMessage,
        on_resync: OnResync | None,
        probe_s: float,
    ) -> None:
        self._redis = redis
        self._pubsub: PubSub = redis.pubsub()
        self._prefix = prefix
        self._on_message = on_message
        self._on_resync = on_resync
        self._probe_s = probe_s
        self._probe_channel = f"{prefix}__probe__:{uuid.uuid4().hex}"
        self._last_probe = time.monotonic()
        self._broken = False
        self._probe_subscriptions = 0  # confirmations: the first, then one per reconnect
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def healthy(self) -> bool:
        return time.monotonic() - self._last_probe < 3 * self._probe_s

    async def start(self) -> None:
        # The probe channel also keeps the connection subscribed when no topic is.
        await self._pubsub.subscribe(self._probe_channel)
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._probe())]

    async def _read(self) -> None:
        prefix = self._prefix.encode()
        probe = self._probe_channel.encode()
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("fan-out subscription failed (%r); reconnecting", exc)
                await asyncio.sleep(min(1.0, self._probe_s))
                continue
            if message is None:
                continue
            if message["type"] == "subscribe" and message["channel"] == probe:
                self._probe_subscribed()
                continue
            if message["type"] != "message":
                continue
            channel: bytes = message["channel"]
            if channel == probe:
                self._probe_returned()
            elif channel.startswith(prefix):
                self._on_message(channel[len(prefix) :].decode(), message["data"])

    def _probe_returned(self) -> None:
        self._last_probe = time.monotonic()
        if self._broken:
            self._broken = False
            log.warning("fan-out subscription is back; filling the gap from history")
            self._resync()

    def _probe_subscribed(self) -> None:
        self._probe_subscriptions += 1
        # A broken subscription resyncs once its probes return; a quick reconnect never broke.
        if self._probe_subscriptions > 1 and not self._broken:
            log.warning("fan-out subscription reconnected; filling the gap from history")
            self._resync()

    def _resync(self) -> None:
        if self._on_resync is not None:
            self._tasks.append(asyncio.create_task(self._on_resync()))

    async def _probe(self) -> None:
        while True:
            await asyncio.sleep(self._probe_s)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._redis.publish(self._probe_channel, b"1"), timeout=self._probe_s
                )
            if not self.healthy and not self._broken:
                self._broken = True
                log.warning("fan-out subscription lost or wedged; reconnecting")
                connection = self._pubsub.connection
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.disconnect()

    async def subscribe(self, topic: str) -> None:
        await self._pubsub.subscribe(self._prefix + topic)

    async def unsubscribe(self, topic: str) -> None:
        await self._pubsub.unsubscribe(self._prefix + topic)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]


class RedisFanout:
    """`Fanout` on Redis pub/sub, one channel per topic under the namespace."""

    def __init__(self, redis: Redis, topology: Topology, probe_s: float = 1.0) -> None:
        self.redis = redis
        self._prefix = topology.key("fanout", "")
        self._probe_s = probe_s

    def channel(self, topic: str) -> str:
        """The pub/sub channel of a topic."""
        return self._prefix + topic

    async def publish(self, topic: str, frame: bytes) -> None:
        await self.redis.publish(self.channel(topic), frame)

    async def subscriber(
        self, on_message: OnMessage, on_resync: OnResync | None = None
    ) -> Subscriber:
        subscriber = RedisSubscriber(self.redis, self._prefix, on_message, on_resync, self._probe_s)
        await subscriber.start()
        return subscriber

    async def ping(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        return None
