"""Batched acks on RabbitMQ: a message still in hand is never acked by a later one's ack."""

from __future__ import annotations

import asyncio

from services.common.bus import Delivery
from services.common.bus_amqp import AmqpBus
from services.common.topology import EVENTS, SYNC_QUEUE, Topology
from tests.services_env import Backends


async def test_a_message_in_hand_comes_back_and_the_finished_ones_do_not(
    backends: Backends, namespace: str
) -> None:
    """Acks of finished neighbours (a run and past the gap) never cover the one in hand."""
    topology = Topology(namespace)
    first = await AmqpBus.connect(backends.amqp_url, topology, drain_s=0.2, ack_batch_s=0.005)
    release = asyncio.Event()
    handled: asyncio.Queue[str] = asyncio.Queue()

    async def slow_or_fast(delivery: Delivery) -> None:
        if delivery.message_id == "slow":
            await release.wait()  # in hand until the bus has gone
        handled.put_nowait(str(delivery.message_id))

    await first.consume(SYNC_QUEUE, slow_or_fast)
    exchange = topology.exchange(EVENTS)
    for message_id in ("a", "b", "slow", "c", "d"):
        await first.publish(exchange, "ev.x", b"{}", message_id=message_id)
    async with asyncio.timeout(10):
        done = {await handled.get() for _ in range(4)}
    assert done == {"a", "b", "c", "d"}
    # The drain gives up on "slow"; what finished is acked; the channel's close returns "slow".
    await first.close()

    second = await AmqpBus.connect(backends.amqp_url, topology, ack_batch_s=0.005)
    try:
        again: asyncio.Queue[Delivery] = asyncio.Queue()

        async def collect(delivery: Delivery) -> None:
            again.put_nowait(delivery)

        await second.consume(SYNC_QUEUE, collect)
        await second.publish(exchange, "ev.x", b"{}", message_id="end")
        seen: list[str] = []
        async with asyncio.timeout(10):
            while not seen or seen[-1] != "end":
                seen.append(str((await again.get()).message_id))
        assert seen == ["slow", "end"]
    finally:
        release.set()
        await second.close()
