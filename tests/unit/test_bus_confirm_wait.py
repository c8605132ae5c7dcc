"""AmqpBus waits for a late confirm while the broker confirms others, and only then doubts.

An overloaded broker confirms in turn, seconds late; a publisher that took lateness for doubt
sent copies and refused frames, adding to what made the broker late. The broker here is a
stand-in exchange whose confirms the test releases; the real broker's side is the fault tests'.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest

from services.common.bus import BusInDoubt
from services.common.bus_amqp import AmqpBus
from services.common.topology import Topology

TIMEOUT_S = 0.5


class SlowExchange:
    """Each publish waits for its confirm, which the test gives (or never does)."""

    def __init__(self) -> None:
        self.confirms: list[asyncio.Future[None]] = []
        self._arrived = asyncio.Event()

    async def publish(self, message: Any, routing_key: str, mandatory: bool) -> None:
        confirm = asyncio.get_running_loop().create_future()
        self.confirms.append(confirm)
        self._arrived.set()
        await confirm

    async def arrived(self, count: int) -> asyncio.Future[None]:
        """The confirm of the `count`th publish, once that publish reached the broker."""
        while len(self.confirms) < count:
            self._arrived.clear()
            await self._arrived.wait()
        return self.confirms[count - 1]


class Connection:
    """Just what AmqpBus touches of a connection here."""

    def __init__(self) -> None:
        self.close_callbacks: set[object] = set()
        self.reconnect_callbacks: set[object] = set()
        self.transport = None  # no blocked-connection check: that is the alarm tests' part


async def publish_confirmed(bus: AmqpBus, exchange: SlowExchange) -> None:
    """Another publish, which the broker confirms at once."""
    count = len(exchange.confirms) + 1
    other = asyncio.create_task(bus.publish("unit.commands", "cmd.y", b"{}", message_id="o"))
    (await exchange.arrived(count)).set_result(None)
    await other


def bus_on(exchange: SlowExchange) -> AmqpBus:
    connection: Any = Connection()
    bus = AmqpBus(
        connection, Topology("unit"), publish_timeout_s=TIMEOUT_S, prefetch=1, delivery_limit=1
    )
    bus._publish_channel = SimpleNamespace(is_closed=False)  # type: ignore[assignment]
    bus._exchanges["unit.commands"] = exchange  # type: ignore[assignment]
    return bus


async def test_a_late_confirm_is_awaited_while_the_broker_confirms_others() -> None:
    exchange = SlowExchange()
    bus = bus_on(exchange)
    late = asyncio.create_task(bus.publish("unit.commands", "cmd.x", b"{}", message_id="late"))
    confirm = await exchange.arrived(1)
    started = time.monotonic()
    while time.monotonic() - started < 3 * TIMEOUT_S:  # others confirmed every 0.1 s
        await publish_confirmed(bus, exchange)
        await asyncio.sleep(0.1)
    assert not late.done()  # three publish timeouts late, still waited for: no doubt raised
    confirm.set_result(None)
    await late  # confirmed: no BusInDoubt


async def test_a_broker_that_confirms_nothing_leaves_the_publish_in_doubt() -> None:
    exchange = SlowExchange()
    bus = bus_on(exchange)
    started = time.monotonic()
    with pytest.raises(BusInDoubt) as doubt:
        await bus.publish("unit.commands", "cmd.x", b"{}", message_id="m")
    assert TIMEOUT_S * 0.9 < time.monotonic() - started < TIMEOUT_S * 3
    assert doubt.value.pending is not None and not doubt.value.pending.done()
    exchange.confirms[0].set_result(None)  # the confirm comes after all: the waiter may use it
    await doubt.value.pending


async def test_a_stall_after_confirms_stopped_counts_from_the_last_confirm() -> None:
    exchange = SlowExchange()
    bus = bus_on(exchange)
    late = asyncio.create_task(bus.publish("unit.commands", "cmd.x", b"{}", message_id="late"))
    await asyncio.sleep(TIMEOUT_S * 0.8)
    await publish_confirmed(bus, exchange)
    confirmed = time.monotonic()
    with pytest.raises(BusInDoubt):
        await late
    assert TIMEOUT_S * 0.9 < time.monotonic() - confirmed < TIMEOUT_S * 3
