"""The bus on RabbitMQ (aio-pika): robust connection, confirms, quorum queues, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from .acks import AckBatcher
from .bus import (
    DEAD,
    BusBlocked,
    BusInDoubt,
    BusUnavailable,
    Delivery,
    Handler,
    QueueStats,
    RejectMessage,
    Transient,
    broker_unavailable,
    delivery_retry_scope,
    drain,
    handle_delivery,
)
from .logs import ThrottledLog
from .metrics import BusMetrics
from .topology import COMMANDS, EVENTS, QUEUE_BINDINGS, Topology

log = logging.getLogger(__name__)


class AmqpBus:
    """`Bus` on RabbitMQ. Build with `await AmqpBus.connect(...)`.

    Publishing and consuming use two connections: a broker low on memory or disk stops reading
    every connection that publishes, and consumers on it could then no longer ack, so queues
    would stop draining just when the broker needs them to.
    """

    def __init__(
        self,
        connection: AbstractRobustConnection,
        topology: Topology,
        *,
        publish_timeout_s: float,
        prefetch: int,
        delivery_limit: int,
        metrics: BusMetrics | None = None,
        drain_s: float = 5.0,
        ack_batch_s: float = 0.0,
        reconnect_s: float = 1.0,
        consuming: AbstractRobustConnection | None = None,
        transient: Transient = broker_unavailable,
    ) -> None:
        self._connection = connection
        self._consuming = consuming or connection
        self._outage = BrokerOutage(reconnect_s)
        for each in {connection, self._consuming}:
            each.close_callbacks.add(self._outage.lost)
            each.reconnect_callbacks.add(self._outage.restored)
        self._topology = topology
        self._transient = transient
        self._closing = False
        self._retry_log = ThrottledLog(log)
        self._publish_timeout_s = publish_timeout_s
        self._confirmed_at = time.monotonic()  # the broker's latest confirm of any publish
        self._prefetch = prefetch
        self._delivery_limit = delivery_limit
        self._metrics = metrics or BusMetrics(namespace=topology.namespace)
        self._drain_s = drain_s
        self._publish_channel: AbstractChannel | None = None
        self._stats_channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._consumer_channels: list[AbstractChannel] = []
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._inflight: set[asyncio.Task[object]] = set()
        # Acks sent together (fewer frames and quorum-queue settles per message); 0: one by one.
        self._acks = AckBatcher(ack_batch_s, max(1, prefetch // 2)) if ack_batch_s > 0 else None

    @classmethod
    async def connect(
        cls,
        url: str,
        topology: Topology,
        *,
        publish_timeout_s: float = 5.0,
        prefetch: int = 64,
        delivery_limit: int = 5,
        connect_timeout_s: float = 10.0,
        reconnect_s: float = 1.0,
        heartbeat_s: int = 15,
        metrics: BusMetrics | None = None,
        drain_s: float = 5.0,
        ack_batch_s: float = 0.0,
        transient: Transient = broker_unavailable,
    ) -> AmqpBus:
        """Connect (reconnecting by itself afterwards) and declare the whole topology."""
        # aio-pika's default retries every 5 s: a broker back after a restart would wait that long.
        # `heartbeat` goes into the URL's query (aiormq reads it there), over one the URL has.
        options: dict[str, Any] = {"reconnect_interval": reconnect_s, "heartbeat": heartbeat_s}
        connection = await aio_pika.connect_robust(url, timeout=connect_timeout_s, **options)
        try:
            consuming = await aio_pika.connect_robust(url, timeout=connect_timeout_s, **options)
        except BaseException:
            await connection.close()
            raise
        bus = cls(
            connection,
            topology,
            publish_timeout_s=publish_timeout_s,
            prefetch=prefetch,
            delivery_limit=delivery_limit,
            metrics=metrics,
            drain_s=drain_s,
            ack_batch_s=ack_batch_s,
            reconnect_s=reconnect_s,
            consuming=consuming,
            transient=transient,
        )
        try:
            await bus._declare()
        except BaseException:
            await bus.close()
            raise
        return bus

    async def _declare(self) -> None:
        channel = await self._connection.channel(publisher_confirms=True)
        self._publish_channel = channel
        t = self._topology
        dlx = await channel.declare_exchange(
            t.dead_letter_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        dead = await channel.declare_queue(
            t.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(dlx, "#")
        for name in (COMMANDS, EVENTS):
            self._exchanges[t.exchange(name)] = await channel.declare_exchange(
                t.exchange(name), aio_pika.ExchangeType.TOPIC, durable=True
            )
            self._metrics.publishing(t.exchange(name))
        for queue_name, exchange, binding in QUEUE_BINDINGS:
            queue = await self._declare_queue(channel, queue_name)
            await queue.bind(self._exchanges[t.exchange(exchange)], binding)

    async def _declare_queue(self, channel: AbstractChannel, name: str) -> AbstractQueue:
        return await channel.declare_queue(
            self._topology.queue(name),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": self._topology.dead_letter_exchange,
                "x-delivery-limit": self._delivery_limit,
            },
        )

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        correlation_id: str | None = None,
        on_sent: Callable[[], object] | None = None,
    ) -> None:
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            correlation_id=correlation_id,
        )
        started = time.perf_counter()
        # A closed channel refuses the frame before it is written; on an open one, a failure
        # while waiting for the confirm leaves the broker holding it or not: in doubt.
        channel = self._publish_channel
        handed_over = channel is not None and not channel.is_closed
        if handed_over and not await self._taking_publishes():
            # Written now, the frame would sit in the socket until the alarm clears and then
            # run, long after its sender was told it failed: it is not written at all.
            transport = self._connection.transport
            if transport is None or transport.connection.is_closed:  # it dropped meanwhile
                self._metrics.publish_failed(exchange)
                raise BusUnavailable(f"broker connection lost: {routing_key} not sent")
            self._metrics.publish_blocked(exchange)
            raise BusBlocked(
                f"the broker blocks publishers (a memory or disk alarm): {routing_key} not sent"
            )
        if handed_over and on_sent is not None:
            on_sent()
        # Its own task, so that a confirm later than the timeout is still awaited: the caller
        # may wait on for it (`BusInDoubt.pending`) instead of sending a copy.
        publish = asyncio.ensure_future(
            self._exchanges[exchange].publish(message, routing_key, mandatory=True)
        )
        publish.add_done_callback(self._publish_done)
        try:
            await self._confirmed(publish)
        except TimeoutError as exc:
            self._metrics.publish_failed(exchange)
            raise BusInDoubt(
                f"broker confirmed nothing for {self._publish_timeout_s} s: {routing_key} "
                "unconfirmed",
                pending=publish,
            ) from exc
        except (aio_pika.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            self._metrics.publish_failed(exchange)
            error = BusInDoubt if handed_over else BusUnavailable
            raise error(f"broker did not confirm {routing_key}: {exc!r}") from exc
        self._metrics.publish_ok(exchange, time.perf_counter() - started)

    async def _confirmed(self, publish: asyncio.Future[Any]) -> None:
        """Wait for the confirm while the broker confirms any publish within every timeout.

        Raises `TimeoutError` once it confirmed nothing for the publish timeout, else what
        the publish raised.
        """
        try:
            async with asyncio.timeout(self._publish_timeout_s):
                await asyncio.shield(publish)
                return
        except TimeoutError:
            pass
        # Late but not lost while others are confirmed: an overloaded broker is answering in
        # turn. Treating its lateness as doubt made every publisher send copies (the gateway
        # refused frames, the orchestrator redid handlings), adding to what made it late.
        while not publish.done():
            wait_s = self._confirmed_at + self._publish_timeout_s - time.monotonic()
            if wait_s <= 0:
                raise TimeoutError
            await asyncio.wait({publish}, timeout=wait_s)  # never cancels it
        publish.result()

    def _publish_done(self, publish: asyncio.Future[Any]) -> None:
        # Reading the failure marks it seen: nobody may be waiting for this publish any more.
        if not publish.cancelled() and publish.exception() is None:
            self._confirmed_at = time.monotonic()

    async def _taking_publishes(self) -> bool:
        """False if the broker has blocked this connection for the whole publish timeout."""
        transport = self._connection.transport
        if transport is None:
            return True  # reconnecting: the publish fails on the closed channel by itself
        # aiormq's `ready()` waits while the broker's `connection.blocked` is in force. Stepped
        # once by hand first: when it finishes without waiting (nearly always) no timer is armed.
        ready = transport.connection.ready()
        try:
            ready.send(None)
        except StopIteration:
            return True
        ready.close()
        try:
            async with asyncio.timeout(self._publish_timeout_s):
                await transport.connection.ready()
        except TimeoutError:
            return False
        return True

    async def consume(self, queue: str, handler: Handler) -> None:
        channel = await self._consuming.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        self._consumer_channels.append(channel)
        # Declared on the consumer's own channel so the robust connection restores the consumer.
        declared = await self._declare_queue(channel, queue)

        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._inflight.add(task)
            try:
                await self._on_message(queue, handler, message)
            finally:
                self._inflight.discard(task)

        self._metrics.consuming(queue)
        tag = await declared.consume(on_message)
        self._consumers.append((declared, tag))

    async def _on_message(
        self, queue: str, handler: Handler, message: AbstractIncomingMessage
    ) -> None:
        started = time.perf_counter()
        delivery = Delivery(
            message.body,
            message.routing_key or "",
            message.message_id,
            message.correlation_id,
            bool(message.redelivered),
            last_attempt=self._over_limit(message),
        )
        self._metrics.delivered(queue, redelivered=delivery.redelivered)

        def held() -> bool:
            # Not once its channel is gone: the broker has already put it back.
            return not self._closing and not message.channel.is_closed

        try:
            scope = delivery_retry_scope(
                self._transient, held, self._metrics, self._retry_log, queue, message.message_id
            )
            await handle_delivery(handler, delivery, scope)
        except RejectMessage:
            log.warning("dead-lettering %s from %s", message.message_id, queue)
            await message.reject(requeue=False)
            self._settled(message)
            self._metrics.handled(queue, "dead_letter", time.perf_counter() - started)
            self._metrics.dead_letter(queue, "rejected")
        except Exception as exc:
            if self._transient(exc):  # Redis or the broker went away mid-handling: expected
                log.warning(
                    "could not finish %s from %s: %r; requeueing", message.message_id, queue, exc
                )
            else:
                log.exception("handler failed on %s; requeueing", queue)
            if message.channel.is_closed:  # the broker put it back with its channel
                self._metrics.handled(queue, "requeue", time.perf_counter() - started)
                return
            await message.nack(requeue=True)
            self._settled(message)
            if delivery.last_attempt:
                # The broker dead-letters a message returned more often than the limit.
                self._metrics.handled(queue, "dead_letter", time.perf_counter() - started)
                self._metrics.dead_letter(queue, "delivery_limit")
            else:
                self._metrics.handled(queue, "requeue", time.perf_counter() - started)
        else:
            if self._acks is None:
                await message.ack()
            else:
                self._acks.finished(message.channel, message)
            self._metrics.handled(queue, "ack", time.perf_counter() - started)

    def _settled(self, message: AbstractIncomingMessage) -> None:
        if self._acks is not None:
            self._acks.settled(message.channel, message.delivery_tag)

    def _over_limit(self, message: AbstractIncomingMessage) -> bool:
        """Whether this return makes the quorum queue's delivery count pass the limit."""
        count = (message.headers or {}).get("x-delivery-count", 0)
        returned_before = count if isinstance(count, int) else 0
        return returned_before + 1 > self._delivery_limit

    async def ping(self) -> None:
        if self._connection.is_closed or self._consuming.is_closed or self._publish_channel is None:
            raise BusUnavailable("broker connection is closed")
        name = self._topology.exchange(EVENTS)
        await asyncio.wait_for(self._publish_channel.get_exchange(name, ensure=True), timeout=2.0)

    async def queue_stats(self, only: Collection[str] | None = None) -> dict[str, QueueStats]:
        # A passive declare on the raw channel: the robust channel would answer from its cache.
        # On the consuming connection, which a broker blocking publishers still reads.
        if self._stats_channel is None or self._stats_channel.is_closed:
            self._stats_channel = await self._consuming.channel()
        raw = await self._stats_channel.get_underlay_channel()
        names = [(name, self._topology.queue(name)) for name, _, _ in QUEUE_BINDINGS]
        names.append((DEAD, self._topology.dead_letter_queue))
        if only is not None:  # one passive declare per queue asked for, not per queue
            names = [(short, full) for short, full in names if short in only]
        stats: dict[str, QueueStats] = {}
        for short, full in names:
            declared = await raw.queue_declare(full, passive=True)
            stats[short] = QueueStats(
                int(declared.message_count or 0), int(declared.consumer_count or 0)
            )
        return stats

    async def stop_consuming(self) -> None:
        self._closing = True
        consumers, self._consumers = self._consumers, []
        for queue, tag in consumers:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
        await drain(self._inflight, self._drain_s)

    async def close(self) -> None:
        # Stop taking deliveries, let those in hand finish (and ack), then close: the broker
        # requeues what is still unacked, so nothing is lost and nothing is handled twice
        # by this process.
        await self.stop_consuming()
        if self._acks is not None:
            await self._acks.close()
        for channel in self._consumer_channels:
            if not channel.is_closed:
                await channel.close()
        self._outage.closing = True
        await self._connection.close()
        if self._consuming is not self._connection:
            await self._consuming.close()


class BrokerOutage:
    """One WARNING when a connection to RabbitMQ is lost, and one when every one is back.

    aio-pika reports every failed attempt in between (a WARNING a second); these two lines
    say when the outage began and how long it lasted.
    """

    def __init__(self, reconnect_s: float) -> None:
        self._reconnect_s = reconnect_s
        self._since: float | None = None
        self._down: set[int] = set()  # the connections (by id) not back yet
        self.closing = False  # our own shutdown closes the connection: not an outage

    def lost(self, connection: object, exc: BaseException | None = None) -> None:
        """A connection closed (called again on each failed attempt: logged once)."""
        if self.closing:
            return
        self._down.add(id(connection))
        if self._since is not None:
            return
        self._since = time.monotonic()
        log.warning(
            "lost the connection to RabbitMQ (%r); reconnecting every %.1f s",
            exc,
            self._reconnect_s,
        )

    def restored(self, connection: object) -> None:
        """A robust connection is back, channels and consumers restored."""
        self._down.discard(id(connection))
        if self._since is None or self._down:
            return
        log.warning("reconnected to RabbitMQ after %.1f s", time.monotonic() - self._since)
        self._since = None


async def delete_topology(url: str, topology: Topology) -> None:
    """Delete every exchange and queue of a namespace (each test run uses one of its own)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for queue_name, _, _ in QUEUE_BINDINGS:
            await channel.queue_delete(topology.queue(queue_name))
        await channel.queue_delete(topology.dead_letter_queue)
        for name in (COMMANDS, EVENTS):
            await channel.exchange_delete(topology.exchange(name))
        await channel.exchange_delete(topology.dead_letter_exchange)
