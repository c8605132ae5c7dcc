"""The bus contract, on the in-process bus and on RabbitMQ."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import OutOfMemoryError

from services.common.adapters import Adapters, connect_adapters, memory_adapters
from services.common.bus import DEAD, BusUnavailable, Delivery, QueueStats, RejectMessage
from services.common.runtime_settings import RuntimeSettings
from services.common.settings import CommonSettings
from services.common.topology import (
    COMMANDS,
    EVENTS,
    METRICS_QUEUE,
    ORCHESTRATOR_QUEUE,
    SYNC_QUEUE,
)
from tests.services_env import Backends


async def _collect(adapters: Adapters, queue: str) -> asyncio.Queue[Delivery]:
    received: asyncio.Queue[Delivery] = asyncio.Queue()

    async def handler(delivery: Delivery) -> None:
        received.put_nowait(delivery)

    await adapters.bus.consume(queue, handler)
    return received


async def test_command_reaches_the_orchestrator_queue(adapters: Adapters) -> None:
    """A confirmed command arrives once, with its body and ids."""
    received = await _collect(adapters, ORCHESTRATOR_QUEUE)
    exchange = adapters.topology.exchange(COMMANDS)
    await adapters.bus.publish(
        exchange, "cmd.command", b'{"x":1}', message_id="m1", correlation_id="c1"
    )
    delivery = await asyncio.wait_for(received.get(), 5)
    assert (delivery.body, delivery.routing_key) == (b'{"x":1}', "cmd.command")
    assert (delivery.message_id, delivery.correlation_id, delivery.redelivered) == (
        "m1",
        "c1",
        False,
    )


async def test_a_publish_says_when_the_broker_is_handed_it(adapters: Adapters) -> None:
    """`on_sent` comes once for a message handed over and confirmed: from then on it may run."""
    sent: list[str] = []
    exchange = adapters.topology.exchange(COMMANDS)
    await adapters.bus.publish(
        exchange, "cmd.command", b"{}", message_id="m1", on_sent=lambda: sent.append("m1")
    )
    assert sent == ["m1"]


async def test_events_reach_sync_and_metrics(adapters: Adapters) -> None:
    """Every domain event goes to both the sync and the metrics queue."""
    to_sync = await _collect(adapters, SYNC_QUEUE)
    to_metrics = await _collect(adapters, METRICS_QUEUE)
    await adapters.bus.publish(
        adapters.topology.exchange(EVENTS), "chat.message", b"{}", message_id="e1"
    )
    assert (await asyncio.wait_for(to_sync.get(), 5)).message_id == "e1"
    assert (await asyncio.wait_for(to_metrics.get(), 5)).message_id == "e1"


async def test_failed_handler_gets_the_message_again(adapters: Adapters) -> None:
    """An exception requeues the message; the retry is marked redelivered."""
    attempts: list[Delivery] = []
    done = asyncio.Event()

    async def flaky(delivery: Delivery) -> None:
        attempts.append(delivery)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        done.set()

    await adapters.bus.consume(ORCHESTRATOR_QUEUE, flaky)
    await adapters.bus.publish(
        adapters.topology.exchange(COMMANDS), "cmd.command", b"{}", message_id="m2"
    )
    await asyncio.wait_for(done.wait(), 5)
    assert [a.redelivered for a in attempts] == [False, True]


@pytest.mark.parametrize("error", [RejectMessage("bad"), RuntimeError("always")])
async def test_hopeless_message_is_not_retried_forever(
    adapters: Adapters, error: Exception
) -> None:
    """A rejected message is dropped at once; one that always fails stops at the delivery limit."""
    attempts = 0

    async def failing(delivery: Delivery) -> None:
        nonlocal attempts
        attempts += 1
        raise error

    await adapters.bus.consume(ORCHESTRATOR_QUEUE, failing)
    await adapters.bus.publish(
        adapters.topology.exchange(COMMANDS), "cmd.command", b"{}", message_id="m3"
    )
    await asyncio.sleep(1.5)
    limit = 1 if isinstance(error, RejectMessage) else 3
    assert 1 <= attempts <= limit + 1


async def test_the_last_attempt_before_the_dead_letters_is_marked(adapters: Adapters) -> None:
    """A handler is told which delivery is its last (the limit, 3 here, reached), so it can
    answer whoever waits before the message goes to the dead letters."""
    marks: list[bool] = []
    dead = asyncio.Event()

    async def failing(delivery: Delivery) -> None:
        marks.append(delivery.last_attempt)
        if delivery.last_attempt:
            dead.set()
        raise RuntimeError("always")

    await adapters.bus.consume(ORCHESTRATOR_QUEUE, failing)
    await adapters.bus.publish(
        adapters.topology.exchange(COMMANDS), "cmd.command", b"{}", message_id="m4"
    )
    await asyncio.wait_for(dead.wait(), 10)
    for _ in range(50):
        if (await adapters.bus.queue_stats([DEAD]))[DEAD].messages == 1:
            break
        await asyncio.sleep(0.1)
    assert (await adapters.bus.queue_stats([DEAD]))[DEAD].messages == 1
    assert marks == [False, False, False, True]


async def test_an_infrastructure_failure_is_handled_again_in_place(adapters: Adapters) -> None:
    """Redis or the broker unavailable: handled again, never returned to the queue, so more
    failures than the delivery limit (3 here) neither dead-letter the message nor reorder it."""
    errors: list[Exception] = [OutOfMemoryError("maxmemory"), BusUnavailable("closed")] * 3
    attempts: list[Delivery] = []
    done = asyncio.Event()

    async def flaky(delivery: Delivery) -> None:
        attempts.append(delivery)
        if errors:
            raise errors.pop(0)
        done.set()

    await adapters.bus.consume(ORCHESTRATOR_QUEUE, flaky)
    await adapters.bus.publish(
        adapters.topology.exchange(COMMANDS), "cmd.command", b"{}", message_id="m4"
    )
    await asyncio.wait_for(done.wait(), 10)
    assert len(attempts) == 7 and not any(a.redelivered for a in attempts)
    assert (await adapters.bus.queue_stats([DEAD]))[DEAD].messages == 0


async def test_ping_answers_when_the_broker_is_up(adapters: Adapters) -> None:
    """Readiness: ping returns on a live broker."""
    await adapters.bus.ping()


async def test_stop_consuming_lets_the_handler_in_hand_finish_and_takes_no_more(
    adapters: Adapters,
) -> None:
    """Shutdown's first step: the handler running finishes; what comes later waits queued."""
    started, release = asyncio.Event(), asyncio.Event()
    handled: list[str | None] = []

    async def slow(delivery: Delivery) -> None:
        started.set()
        await release.wait()
        handled.append(delivery.message_id)

    await adapters.bus.consume(ORCHESTRATOR_QUEUE, slow)
    exchange = adapters.topology.exchange(COMMANDS)
    await adapters.bus.publish(exchange, "cmd.command", b"{}", message_id="first")
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(adapters.bus.stop_consuming())
    await asyncio.sleep(0.3)
    assert not stopping.done()  # it waits for the handler in hand
    await adapters.bus.publish(exchange, "cmd.command", b"{}", message_id="second")
    release.set()
    await asyncio.wait_for(stopping, 5)
    await asyncio.sleep(0.3)
    assert handled == ["first"]
    stats = await adapters.bus.queue_stats([ORCHESTRATOR_QUEUE])
    assert stats[ORCHESTRATOR_QUEUE] == QueueStats(messages=1, consumers=0)


@pytest.mark.parametrize("backend", ["memory", "real"])
async def test_a_handler_outliving_the_drain_is_cut_off_and_its_message_requeued(
    backend: str, backends: Backends, namespace: str
) -> None:
    """Cancelled unacked at shutdown: the message waits in its queue for the next consumer."""
    settings = CommonSettings(
        namespace=namespace, amqp_url=backends.amqp_url, redis_url=backends.redis_url
    )
    runtime = RuntimeSettings(drain_s=0.2)
    adapters = (
        memory_adapters(settings, runtime=runtime)
        if backend == "memory"
        else await connect_adapters(settings, runtime=runtime)
    )
    started = asyncio.Event()

    async def hangs(delivery: Delivery) -> None:
        started.set()
        await asyncio.sleep(30)

    try:
        await adapters.bus.consume(ORCHESTRATOR_QUEUE, hangs)
        exchange = adapters.topology.exchange(COMMANDS)
        await adapters.bus.publish(exchange, "cmd.command", b"{}", message_id="slow")
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.wait_for(adapters.bus.stop_consuming(), 5)
        if backend == "real":  # the broker takes it back when the consumer's channel closes
            await adapters.close()
            adapters = await connect_adapters(settings)
        waiting = await adapters.bus.queue_stats([ORCHESTRATOR_QUEUE])
        assert waiting[ORCHESTRATOR_QUEUE].messages == 1
    finally:
        await adapters.close()
