"""Build the bus, fan-out, history and store: in-process for embedded mode, real otherwise."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .bus import Bus, MemoryBus
from .fanout import Fanout, MemoryFanout
from .history import History, MemoryHistory
from .metrics import BusMetrics, RedisMetrics
from .presence import MemoryPresence, Presence, RedisPresence
from .probe import RedisProbe
from .runtime_settings import RuntimeSettings
from .sessions import MemorySessions, RedisSessions, Sessions
from .settings import CommonSettings
from .store import MemoryStore, Store
from .topology import Topology
from .transient import infrastructure_failure


@dataclass
class Adapters:
    """Everything a service talks to, behind protocols."""

    topology: Topology
    bus: Bus
    fanout: Fanout
    history: History
    store: Store
    sessions: Sessions
    presence: Presence
    redis: Redis | None = None
    probe: RedisProbe | None = None

    async def ping(self) -> None:
        """Raise if the broker or Redis is unreachable."""
        await self.bus.ping()
        await self.store.ping()

    async def close(self) -> None:
        """Close the connections (the in-process ones have none)."""
        if self.probe is not None:
            await self.probe.stop()
        await self.bus.close()
        await self.fanout.close()
        if self.redis is not None:
            await self.redis.aclose()


def memory_adapters(
    settings: CommonSettings,
    history_max_len: int = 10_000,
    *,
    registry: CollectorRegistry | None = None,
    runtime: RuntimeSettings | None = None,
) -> Adapters:
    """In-process adapters, shared by every service of an embedded process.

    With a registry, the bus's metrics are exported in it.
    """
    runtime = runtime or RuntimeSettings()
    topology = Topology(settings.namespace)
    return Adapters(
        topology=topology,
        bus=MemoryBus(
            topology,
            delivery_limit=settings.delivery_limit,
            prefetch=settings.prefetch,
            metrics=BusMetrics(registry, topology.namespace),
            transient=infrastructure_failure,
            drain_s=runtime.drain_s,
        ),
        fanout=MemoryFanout(),
        history=MemoryHistory(max_len=history_max_len),
        store=MemoryStore(),
        sessions=MemorySessions(),
        presence=MemoryPresence(),
    )


def redis_pool(settings: CommonSettings) -> BlockingConnectionPool:
    """The Redis connections of a service, with its limits and retries."""
    # Retries with back-off ride out a Redis restart instead of failing the command.
    # A blocking pool: at its size a call waits for a free connection instead of failing with
    # "Too many connections" (a burst of logins or joins would otherwise turn into errors).
    return BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout_s,
        decode_responses=False,
        health_check_interval=10,
        socket_timeout=settings.redis_socket_timeout_s,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=settings.redis_retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


async def connect_adapters(
    settings: CommonSettings,
    history_max_len: int = 10_000,
    *,
    registry: CollectorRegistry | None = None,
    runtime: RuntimeSettings | None = None,
) -> Adapters:
    """Connect to RabbitMQ and Redis and declare the topology.

    With a registry, the bus's metrics and a Redis round-trip probe are exported in it.
    """
    from .bus_amqp import AmqpBus
    from .fanout_redis import RedisFanout
    from .history_redis import RedisHistory
    from .store_redis import RedisStore

    runtime = runtime or RuntimeSettings()
    topology = Topology(settings.namespace)
    redis = Redis.from_pool(redis_pool(settings))
    try:
        await redis.ping()
        bus = await AmqpBus.connect(
            settings.amqp_url,
            topology,
            publish_timeout_s=settings.publish_timeout_s,
            reconnect_s=settings.amqp_reconnect_s,
            heartbeat_s=settings.amqp_heartbeat_s,
            prefetch=settings.prefetch,
            delivery_limit=settings.delivery_limit,
            metrics=BusMetrics(registry, topology.namespace),
            drain_s=runtime.drain_s,
            ack_batch_s=settings.ack_batch_s,
            transient=infrastructure_failure,
        )
    except BaseException:
        with contextlib.suppress(Exception):
            await redis.aclose()
        raise
    probe = None
    if registry is not None:
        probe = RedisProbe(
            redis.ping,
            RedisMetrics(registry),
            interval_s=runtime.redis_probe_s,
            timeout_s=runtime.redis_probe_timeout_s,
        )
        probe.start()
    return Adapters(
        topology=topology,
        bus=bus,
        fanout=RedisFanout(redis, topology, probe_s=settings.fanout_probe_s),
        history=RedisHistory(redis, topology, max_len=history_max_len),
        store=RedisStore(redis, topology),
        sessions=RedisSessions(redis, topology),
        presence=RedisPresence(redis, topology),
        redis=redis,
        probe=probe,
    )
