"""A broker that blocks publishers (a memory or disk alarm): a publish is refused, not sent."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest

from services.common.bus import BusBlocked, BusInDoubt, Delivery
from services.common.bus_amqp import AmqpBus, delete_topology
from services.common.topology import EVENTS, SYNC_QUEUE, Topology
from tests.faults.private_rabbitmq import PrivateRabbitMQ


@dataclass
class Events:
    """A bus on the private node and its events exchange."""

    bus: AmqpBus
    exchange: str

    handed_over: list[str] = field(default_factory=list)

    async def publish(self, message_id: str) -> None:
        await self.bus.publish(
            self.exchange,
            "chat.message",
            b"{}",
            message_id=message_id,
            on_sent=lambda: self.handed_over.append(message_id),
        )


@pytest.fixture
async def events(rabbitmq: PrivateRabbitMQ) -> AsyncIterator[Events]:
    """In a namespace of its own, with a 1 s publish timeout and a prefetch of 4."""
    topology = Topology(f"alarm-{uuid.uuid4().hex[:8]}")
    bus = await AmqpBus.connect(rabbitmq.url, topology, publish_timeout_s=1.0, prefetch=4)
    try:
        yield Events(bus, topology.exchange(EVENTS))
    finally:
        await bus.close()
        await delete_topology(rabbitmq.url, topology)


@pytest.fixture
def alarm(rabbitmq: PrivateRabbitMQ) -> Iterator[PrivateRabbitMQ]:
    """The node, whose memory alarm is cleared at the end whatever happened."""
    try:
        yield rabbitmq
    finally:
        rabbitmq.clear_memory_alarm()


async def publish_until_blocked(events: Events) -> tuple[str, float, list[str]]:
    """Publish until one is refused as blocked: (its id, how long the refusal took, the ids
    written before the broker's `connection.blocked` arrived, which stay in doubt)."""
    in_doubt: list[str] = []
    for attempt in range(20):
        message_id = f"during-{attempt}"
        started = time.monotonic()
        try:
            await events.publish(message_id)
        except BusBlocked:
            return message_id, time.monotonic() - started, in_doubt
        except BusInDoubt:
            in_doubt.append(message_id)
    raise AssertionError("the broker never blocked the connection")


async def collect_until(events: Events, wanted: set[str], within_s: float) -> list[str]:
    """Consume `sync.events` until every id of `wanted` arrived; return all ids, in order."""
    seen: list[str] = []
    complete = asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        seen.append(delivery.message_id or "")
        if wanted <= set(seen):
            complete.set()

    await events.bus.consume(SYNC_QUEUE, handler)
    await asyncio.wait_for(complete.wait(), within_s)
    return seen


async def test_a_publish_while_the_broker_blocks_is_refused_and_never_sent(
    events: Events, alarm: PrivateRabbitMQ
) -> None:
    """Refused within the publish timeout; after the alarm the broker holds no copy of it."""
    await events.publish("before")
    await asyncio.to_thread(alarm.raise_memory_alarm)
    blocked, refused_after, in_doubt = await publish_until_blocked(events)
    await asyncio.to_thread(alarm.clear_memory_alarm)
    assert refused_after < 2.0
    await events.publish("after")

    seen = await collect_until(events, {"after"}, 10)
    assert seen[0] == "before" and seen[-1] == "after"
    assert blocked not in seen
    assert set(seen) <= {"before", "after", *in_doubt}
    assert events.handed_over == ["before", *in_doubt, "after"]  # never the refused one


async def test_consumers_go_on_while_the_broker_blocks_publishes(
    events: Events, alarm: PrivateRabbitMQ
) -> None:
    """Acks travel on a connection that does not publish, which the broker keeps reading."""
    await asyncio.gather(*(events.publish(f"m{i}") for i in range(40)))
    await asyncio.to_thread(alarm.raise_memory_alarm)
    await publish_until_blocked(events)
    # 40 messages through a prefetch of 4, during the alarm: only if the acks reach the broker.
    await collect_until(events, {f"m{i}" for i in range(40)}, 10)
