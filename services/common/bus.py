"""The command/event bus: the protocol, its errors and the in-process implementation."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

from .logs import ThrottledLog
from .metrics import BusMetrics
from .topology import QUEUE_BINDINGS, Topology

log = logging.getLogger(__name__)


class BusUnavailable(Exception):
    """The broker did not take the message (unreachable, or no confirm in time)."""


class BusInDoubt(BusUnavailable):
    """The message was handed to the broker but never confirmed: it may have been taken.

    Publishing it again with the same `message_id` is the way out: consumers deduplicate.
    `pending`, when set, is the publish still waiting for its confirm on an open channel: the
    confirm is late, not lost, and waiting for it adds nothing to a busy broker's work.
    """

    def __init__(self, message: str, pending: asyncio.Future[Any] | None = None) -> None:
        super().__init__(message)
        self.pending = pending


class BusBlocked(BusUnavailable):
    """The broker refuses publishes for now (a memory or disk alarm): the message was not sent.

    Unlike `BusInDoubt` this is certain; the alarm may clear, so a later attempt may succeed.
    """


class RejectMessage(Exception):
    """Raised by a handler for a message that can never succeed: it goes to dead letters."""


@dataclass(frozen=True)
class Delivery:
    """One message handed to a consumer."""

    body: bytes
    routing_key: str
    message_id: str | None
    correlation_id: str | None
    redelivered: bool
    # A failure now sends it to the dead letters (its delivery limit is reached): the
    # handler's last chance to tell whoever waits for it.
    last_attempt: bool = False

    def set_aside_by(self, failure: BaseException) -> bool:
        """Whether the handler's `failure` sends this message to the dead letters."""
        if isinstance(failure, RejectMessage):
            return True
        if not self.last_attempt:
            return False
        # Redis or the broker away: the handling runs again in place (`retrying_transient`),
        # so even a last delivery is not over.
        scope = _retry_scope.get()
        return scope is None or not scope.retries(failure)


Handler = Callable[[Delivery], Awaitable[None]]
# Whether a handler's failure is the infrastructure's (Redis or the broker unavailable), not the
# message's: such a handling is run again in place instead of being returned to the queue.
Transient = Callable[[BaseException], bool]
RETRY_PAUSE_S = (0.05, 2.0)  # first pause before handling again, and the longest
T = TypeVar("T")


def broker_unavailable(exc: BaseException) -> bool:
    """The default `Transient`: the broker did not take a publish."""
    return isinstance(exc, BusUnavailable)


@dataclass(frozen=True)
class RetryScope:
    """How the delivery being handled is retried after a transient failure (set by the bus)."""

    transient: Transient
    held: Callable[[], bool]  # False once the delivery is no longer ours (closing, channel lost)
    on_retry: Callable[[BaseException], object]

    def retries(self, failure: BaseException) -> bool:
        """Whether `retrying_transient` runs the handling again in place after `failure`."""
        return isinstance(failure, Exception) and self.transient(failure) and self.held()


def delivery_retry_scope(
    transient: Transient,
    held: Callable[[], bool],
    metrics: BusMetrics,
    retry_log: ThrottledLog,
    queue: str,
    message_id: str | None,
) -> RetryScope:
    """The `RetryScope` of one delivery: each retry counted on the queue's metric and logged."""

    def retrying(exc: BaseException) -> None:
        metrics.retried(queue)
        retry_log.warning("handling %s from %s again shortly: %r", queue, message_id, exc)

    return RetryScope(transient, held, retrying)


_retry_scope: contextvars.ContextVar[RetryScope | None] = contextvars.ContextVar(
    "retry_scope", default=None
)


async def retrying_transient(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt`; while handling a delivery, again after a transient failure (back-off).

    Returning such a message to the queue would spend one of its delivery attempts each time
    (an outage of a minute would dead-letter it) and spin. Handlers call this inside their
    ordering locks, so a message retried keeps its place before the ones behind it. Outside
    a delivery (no `RetryScope`) it runs once.
    """
    scope = _retry_scope.get()
    pause, longest = RETRY_PAUSE_S
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if scope is None or not scope.retries(exc):
                raise
            scope.on_retry(exc)
        await asyncio.sleep(pause)
        pause = min(pause * 2, longest)


async def handle_delivery(handler: Handler, delivery: Delivery, scope: RetryScope) -> None:
    """Run a handler with `scope` for `retrying_transient`, itself retried the same way."""
    token = _retry_scope.set(scope)
    try:
        await retrying_transient(lambda: handler(delivery))
    finally:
        _retry_scope.reset(token)


DEAD = "dead"  # the dead-letter queue's name in `queue_stats`


async def drain(handlers: Collection[asyncio.Task[Any]], drain_s: float) -> None:
    """Let running handlers finish within `drain_s`, then cancel the rest and wait for them."""
    pending = {task for task in handlers if task is not asyncio.current_task()}
    if pending and drain_s > 0:
        _, pending = await asyncio.wait(pending, timeout=drain_s)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=1.0)


@dataclass(frozen=True)
class QueueStats:
    """How far behind a queue is: messages ready for delivery, and consumers attached."""

    messages: int
    consumers: int


class Bus(Protocol):
    """Durable topic exchanges with confirmed publishing and acknowledged consumption.

    A handler that returns acks its message; one that raises `RejectMessage` sends it to the
    dead-letter queue; one that raises a transient failure (the bus's `Transient`: Redis or
    the broker unavailable) is run again in place until it succeeds or the bus closes; any
    other exception requeues it until the delivery limit is reached.
    """

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
        """Publish and wait for the broker's confirm; raise `BusUnavailable` otherwise.

        `BusInDoubt` if the broker may have taken it, `BusBlocked` if it was not sent because
        the broker blocks publishers. `on_sent` is called as the message is handed to the
        broker (on each attempt that hands it over): from then on it may run, even if this
        is cancelled before the confirm.
        """
        ...

    async def consume(self, queue: str, handler: Handler) -> None:
        """Start consuming one of the topology's queues (`ORCHESTRATOR_QUEUE`, ...)."""
        ...

    async def stop_consuming(self) -> None:
        """Take no more deliveries; wait (up to the drain) for the handlers in hand to finish.

        Handlers still running then are cancelled, unacked: their messages go back to the
        queue (handling is idempotent). Shutdown calls this before stopping the components,
        so no handler outlives what it uses (an agent call is not cut off by its client
        closing, which would record a failure no agent made).
        """
        ...

    async def ping(self) -> None:
        """Raise if the broker is not reachable."""
        ...

    async def queue_stats(self, only: Collection[str] | None = None) -> dict[str, QueueStats]:
        """Every queue of the topology (`DEAD` for the dead letters) by its short name, or
        only those named in `only`."""
        ...

    async def close(self) -> None:
        """Stop consumers and close the connection."""
        ...


async def publish_resolving_doubt(
    bus: Bus,
    exchange: str,
    routing_key: str,
    body: bytes,
    *,
    message_id: str,
    retry_s: float,
    pause_s: float,
    on_retry: Callable[[], object] = lambda: None,
    on_sent: Callable[[], object] | None = None,
) -> None:
    """Publish; a publish in doubt, or blocked by the broker, goes again until confirmed.

    Consumers deduplicate by `message_id`, so a copy the broker did keep does nothing twice.
    Raises `BusUnavailable` if the broker did not take it, `BusBlocked` if it still blocked
    publishers after `retry_s` (nothing was sent), `BusInDoubt` if it was still in doubt
    after `retry_s`. Once one attempt is in doubt, so is the frame: a later attempt that
    finds the channel closed (the broker restarting) does not make it "not taken".
    """
    deadline = time.monotonic() + retry_s
    failed: BusUnavailable | None = None  # a `BusInDoubt` once any attempt was in doubt
    while True:
        try:
            await bus.publish(
                exchange,
                routing_key,
                body,
                message_id=message_id,
                correlation_id=message_id,
                on_sent=on_sent,
            )
            return
        except BusInDoubt as doubt:
            failed = doubt
            if doubt.pending is not None and await _confirmed(doubt.pending, deadline):
                return
        except BusUnavailable as refused:
            if isinstance(failed, BusInDoubt):
                failed = BusInDoubt(f"{failed}; then {refused}")
            elif isinstance(refused, BusBlocked):
                failed = refused  # an alarm may clear within the window: try again
            else:
                raise
        if time.monotonic() >= deadline:
            raise failed
        on_retry()
        await asyncio.sleep(pause_s)


async def _confirmed(pending: asyncio.Future[Any], deadline: float) -> bool:
    """Wait until `deadline` for a late confirm. False if it failed (the channel closed: the
    copy is in doubt) or did not come in time."""
    # A copy sent now would queue behind the original on an overloaded broker and make every
    # confirm later still; the original's confirm comes unless the channel closes.
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            await asyncio.shield(pending)
    except Exception:  # the timeout, or the failure that closed the channel
        return False
    return True


def topic_matches(binding: str, routing_key: str) -> bool:
    """AMQP topic-exchange matching: `*` is exactly one word, `#` zero or more."""
    pattern, words = binding.split("."), routing_key.split(".")

    def match(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(words)
        if pattern[i] == "#":
            return any(match(i + 1, k) for k in range(j, len(words) + 1))
        if j == len(words):
            return False
        return pattern[i] in ("*", words[j]) and match(i + 1, j + 1)

    return match(0, 0)


@dataclass
class _MemoryQueue:
    name: str
    messages: asyncio.Queue[tuple[Delivery, int]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class MemoryBus:
    """The bus inside one process: the same topology and semantics, no broker."""

    def __init__(
        self,
        topology: Topology,
        *,
        delivery_limit: int = 5,
        prefetch: int = 64,
        metrics: BusMetrics | None = None,
        transient: Transient = broker_unavailable,
        drain_s: float = 5.0,
    ) -> None:
        self._topology = topology
        self._transient = transient
        self._drain_s = drain_s
        self._closing = False
        self._retry_log = ThrottledLog(log)
        self._metrics = metrics or BusMetrics(namespace=topology.namespace)
        self._delivery_limit = delivery_limit
        self._prefetch = prefetch
        self._inflight: set[asyncio.Task[None]] = set()
        self._queues = {name: _MemoryQueue(name) for name, _, _ in QUEUE_BINDINGS}
        self._bindings: dict[str, list[tuple[str, _MemoryQueue]]] = {}
        for name, exchange, binding in QUEUE_BINDINGS:
            full_exchange = topology.exchange(exchange)
            self._bindings.setdefault(full_exchange, []).append((binding, self._queues[name]))
        for full_exchange in self._bindings:
            self._metrics.publishing(full_exchange)
        self.dead_letters: list[Delivery] = []

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
        if on_sent is not None:
            on_sent()
        delivery = Delivery(body, routing_key, message_id, correlation_id, redelivered=False)
        for binding, queue in self._bindings.get(exchange, []):
            if topic_matches(binding, routing_key):
                queue.messages.put_nowait((delivery, 0))
        self._metrics.publish_ok(exchange, 0.0)

    async def consume(self, queue: str, handler: Handler) -> None:
        memory_queue = self._queues[queue]
        self._metrics.consuming(queue)
        memory_queue.task = asyncio.create_task(self._run(memory_queue, handler))

    async def _run(self, queue: _MemoryQueue, handler: Handler) -> None:
        # Like a broker consumer: up to `prefetch` messages handled at once, each on its own.
        slots = asyncio.Semaphore(self._prefetch)
        while True:
            delivery, attempts = await queue.messages.get()
            try:
                await slots.acquire()
            except asyncio.CancelledError:  # consuming stopped: it stays queued
                queue.messages.put_nowait((delivery, attempts))
                raise
            task = asyncio.create_task(self._handle(queue, handler, delivery, attempts))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _handle(
        self, queue: _MemoryQueue, handler: Handler, delivery: Delivery, attempts: int
    ) -> None:
        started = time.perf_counter()
        self._metrics.delivered(queue.name, redelivered=delivery.redelivered)
        # Like a quorum queue: dead-lettered once returned more often than the limit.
        last_attempt = attempts + 1 > self._delivery_limit
        delivery = replace(delivery, last_attempt=last_attempt)

        scope = delivery_retry_scope(
            self._transient,
            lambda: not self._closing,
            self._metrics,
            self._retry_log,
            queue.name,
            delivery.message_id,
        )
        try:
            await handle_delivery(handler, delivery, scope)
        except asyncio.CancelledError:  # cut off at shutdown: back to its queue, unacked
            queue.messages.put_nowait((replace(delivery, redelivered=True), attempts))
            raise
        except RejectMessage:
            self._dead_letter(queue, delivery, "rejected", started)
        except Exception:
            log.exception("handler failed on %s", queue.name)
            if last_attempt:
                self._dead_letter(queue, delivery, "delivery_limit", started)
            else:
                self._metrics.handled(queue.name, "requeue", time.perf_counter() - started)
                queue.messages.put_nowait((replace(delivery, redelivered=True), attempts + 1))
        else:
            self._metrics.handled(queue.name, "ack", time.perf_counter() - started)

    def _dead_letter(
        self, queue: _MemoryQueue, delivery: Delivery, reason: str, started: float
    ) -> None:
        self.dead_letters.append(delivery)
        self._metrics.handled(queue.name, "dead_letter", time.perf_counter() - started)
        self._metrics.dead_letter(queue.name, reason)

    async def ping(self) -> None:
        return None

    async def queue_stats(self, only: Collection[str] | None = None) -> dict[str, QueueStats]:
        stats = {
            name: QueueStats(queue.messages.qsize(), int(queue.task is not None))
            for name, queue in self._queues.items()
        }
        stats[DEAD] = QueueStats(len(self.dead_letters), 0)
        return stats if only is None else {name: stats[name] for name in only if name in stats}

    async def _stop_queues(self) -> None:
        for queue in self._queues.values():
            if queue.task is not None:
                queue.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await queue.task
                queue.task = None

    async def stop_consuming(self) -> None:
        await self._stop_queues()
        self._closing = True  # a handler waiting out an outage in place gives up
        await drain(self._inflight, self._drain_s)

    async def close(self) -> None:
        self._closing = True
        for task in list(self._inflight):
            task.cancel()
        await self._stop_queues()
