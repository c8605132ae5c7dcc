"""Bus metrics on the in-process bus and on RabbitMQ: publishes, outcomes, redeliveries, depth."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from services.common.adapters import Adapters
from services.common.bus import DEAD, Delivery, RejectMessage
from services.common.topology import COMMANDS, ORCHESTRATOR_QUEUE, SYNC_CHANGES_QUEUE

QUEUE = ORCHESTRATOR_QUEUE


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value, 0 when it does not exist (yet)."""
    return registry.get_sample_value(name, labels) or 0.0


async def eventually(check: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Wait until `check()` is true."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def publish(adapters: Adapters, message_id: str) -> None:
    await adapters.bus.publish(
        adapters.topology.exchange(COMMANDS), "cmd.command", b"{}", message_id=message_id
    )


async def test_publish_and_ack_are_counted(
    instrumented: Adapters, registry: CollectorRegistry
) -> None:
    """A confirmed publish and an acked delivery, labelled without the namespace."""
    handled = asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        handled.set()

    await instrumented.bus.consume(QUEUE, handler)
    await publish(instrumented, "m1")
    await asyncio.wait_for(handled.wait(), 5)
    await eventually(
        lambda: value(registry, "huddle_bus_consumed_total", queue=QUEUE, outcome="ack")
    )
    assert value(registry, "huddle_bus_published_total", exchange="commands", outcome="ok") == 1
    assert value(registry, "huddle_bus_publish_confirm_seconds_count", exchange="commands") == 1
    assert value(registry, "huddle_bus_handle_seconds_count", queue=QUEUE) == 1


async def test_rejected_message_is_dead_lettered(
    instrumented: Adapters, registry: CollectorRegistry
) -> None:
    """`RejectMessage` counts one dead letter (reason rejected) and the dead queue holds it."""

    async def handler(delivery: Delivery) -> None:
        raise RejectMessage("invalid")

    await instrumented.bus.consume(QUEUE, handler)
    await publish(instrumented, "bad")
    await eventually(
        lambda: value(registry, "huddle_bus_dead_lettered_total", queue=QUEUE, reason="rejected")
    )
    assert value(registry, "huddle_bus_consumed_total", queue=QUEUE, outcome="dead_letter") == 1

    async def dead_letters() -> int:
        return (await instrumented.bus.queue_stats())[DEAD].messages

    deadline = time.monotonic() + 10
    while await dead_letters() != 1:
        assert time.monotonic() < deadline, "the dead letter never reached the dead queue"
        await asyncio.sleep(0.1)


async def test_failing_message_is_redelivered_until_the_limit(
    instrumented: Adapters, registry: CollectorRegistry
) -> None:
    """Every retry is a redelivery; the attempt past the limit counts as one dead letter."""
    attempts: list[Delivery] = []

    async def handler(delivery: Delivery) -> None:
        attempts.append(delivery)
        raise RuntimeError("keeps failing")

    await instrumented.bus.consume(QUEUE, handler)
    await publish(instrumented, "flaky")
    await eventually(
        lambda: value(
            registry, "huddle_bus_dead_lettered_total", queue=QUEUE, reason="delivery_limit"
        )
    )
    await asyncio.sleep(0.5)  # no further delivery arrives after the dead letter
    redelivered = value(registry, "huddle_bus_redelivered_total", queue=QUEUE)
    requeued = value(registry, "huddle_bus_consumed_total", queue=QUEUE, outcome="requeue")
    assert redelivered == len(attempts) - 1 >= 1
    assert requeued == len(attempts) - 1
    assert (
        value(registry, "huddle_bus_dead_lettered_total", queue=QUEUE, reason="delivery_limit") == 1
    )


async def test_queue_stats_show_the_backlog(instrumented: Adapters) -> None:
    """Messages nobody consumes are counted in their queue; every queue is listed."""
    exchange = instrumented.topology.exchange(COMMANDS)
    for n in range(3):
        await instrumented.bus.publish(exchange, "change.request", b"{}", message_id=f"c{n}")
    deadline = time.monotonic() + 10
    while (stats := await instrumented.bus.queue_stats())[SYNC_CHANGES_QUEUE].messages != 3:
        assert time.monotonic() < deadline, stats
        await asyncio.sleep(0.1)
    assert {QUEUE, SYNC_CHANGES_QUEUE, DEAD} <= set(stats)
    assert stats[SYNC_CHANGES_QUEUE].consumers == 0
    # Asked for one queue (what a gateway reads every second): that one only.
    assert await instrumented.bus.queue_stats([SYNC_CHANGES_QUEUE]) == {
        SYNC_CHANGES_QUEUE: stats[SYNC_CHANGES_QUEUE]
    }
