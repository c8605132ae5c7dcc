"""A broker that blocks publishers (a memory or disk alarm): a publish is refused, not sent."""

from __future__ import annotations

import asyncio
import time
import uuid

from services.common.bus import BusBlocked, BusInDoubt, Delivery
from services.common.bus_amqp import AmqpBus, delete_topology
from services.common.topology import EVENTS, SYNC_QUEUE, Topology
from tests.faults.private_rabbitmq import PrivateRabbitMQ


async def test_a_publish_while_the_broker_blocks_is_refused_and_never_sent(
    rabbitmq: PrivateRabbitMQ,
) -> None:
    """Refused within the publish timeout; after the alarm the broker holds no copy of it."""
    topology = Topology(f"alarm-{uuid.uuid4().hex[:8]}")
    exchange = topology.exchange(EVENTS)
    bus = await AmqpBus.connect(rabbitmq.url, topology, publish_timeout_s=1.0)
    try:
        await bus.publish(exchange, "chat.message", b"{}", message_id="before")
        await asyncio.to_thread(rabbitmq.raise_memory_alarm)
        in_doubt: list[str] = []  # written before the broker's `connection.blocked` arrived
        try:
            for attempt in range(20):
                started = time.monotonic()
                try:
                    await bus.publish(
                        exchange, "chat.message", b"{}", message_id=f"during-{attempt}"
                    )
                except BusBlocked:
                    refused_after = time.monotonic() - started
                    blocked = f"during-{attempt}"
                    break
                except BusInDoubt:
                    in_doubt.append(f"during-{attempt}")
            else:
                raise AssertionError("the broker never blocked the connection")
        finally:
            await asyncio.to_thread(rabbitmq.clear_memory_alarm)
        assert refused_after < 2.0
        await bus.publish(exchange, "chat.message", b"{}", message_id="after")

        seen: list[str] = []
        done = asyncio.Event()

        async def collect(delivery: Delivery) -> None:
            seen.append(delivery.message_id or "")
            if delivery.message_id == "after":
                done.set()

        await bus.consume(SYNC_QUEUE, collect)
        await asyncio.wait_for(done.wait(), 10)
        assert seen[0] == "before" and seen[-1] == "after"
        assert blocked not in seen
        assert set(seen) <= {"before", "after", *in_doubt}
    finally:
        await bus.close()
        await delete_topology(rabbitmq.url, topology)


async def test_consumers_go_on_while_the_broker_blocks_publishes(rabbitmq: PrivateRabbitMQ) -> None:
    """Acks travel on a connection that does not publish, which the broker keeps reading."""
    topology = Topology(f"alarm-{uuid.uuid4().hex[:8]}")
    exchange = topology.exchange(EVENTS)
    bus = await AmqpBus.connect(rabbitmq.url, topology, publish_timeout_s=1.0, prefetch=4)
    try:
        await asyncio.gather(
            *(bus.publish(exchange, "chat.message", b"{}", message_id=f"m{i}") for i in range(40))
        )
        await asyncio.to_thread(rabbitmq.raise_memory_alarm)
        try:
            for attempt in range(20):  # until the broker has blocked the publishing connection
                try:
                    await bus.publish(exchange, "chat.message", b"{}", message_id=f"x{attempt}")
                except BusBlocked:
                    break
                except BusInDoubt:
                    pass
            seen: set[str] = set()
            all_in = asyncio.Event()

            async def collect(delivery: Delivery) -> None:
                seen.add(delivery.message_id or "")
                if {f"m{i}" for i in range(40)} <= seen:
                    all_in.set()

            await bus.consume(SYNC_QUEUE, collect)
            # 40 messages through a prefetch of 4: only if the acks reach the broker.
            await asyncio.wait_for(all_in.wait(), 10)
        finally:
            await asyncio.to_thread(rabbitmq.clear_memory_alarm)
    finally:
        await bus.close()
        await delete_topology(rabbitmq.url, topology)
