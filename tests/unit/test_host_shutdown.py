"""Shutdown order of a hosted service: stop consuming, let work in hand finish, then stop.

The orchestrator closed its agent provider in its own stop, which ran while the bus still
delivered and drained: a step in flight at a rolling restart found its provider closed and
counted a failed attempt that no agent had made.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from services.common.adapters import Adapters, memory_adapters
from services.common.bus import Delivery
from services.common.http import host_app, new_registry
from services.common.runtime_settings import RuntimeSettings
from services.common.settings import CommonSettings
from services.common.topology import COMMANDS, ORCHESTRATOR_QUEUE


class SlowWorker:
    """A component whose handler needs what its stop releases."""

    name = "worker"

    def __init__(self, handling_s: float) -> None:
        self.router = APIRouter()
        self.handling_s = handling_s
        self.stopped = False
        self.started_handling = asyncio.Event()
        self.found_stopped: list[bool] = []

    async def start(self, adapters: Adapters) -> None:
        await adapters.bus.consume(ORCHESTRATOR_QUEUE, self.handle)

    async def handle(self, delivery: Delivery) -> None:
        self.started_handling.set()
        try:
            await asyncio.sleep(self.handling_s)
        finally:  # finished, or cut off
            self.found_stopped.append(self.stopped)

    async def stop(self) -> None:
        self.stopped = True


async def shut_down_while_handling(handling_s: float, drain_s: float) -> SlowWorker:
    """Host a worker, give it a message, and shut the host down while it handles it."""
    runtime = RuntimeSettings(drain_s=drain_s)
    adapters = memory_adapters(CommonSettings(namespace="unit"), runtime=runtime)
    worker = SlowWorker(handling_s)

    async def connect() -> Adapters:
        return adapters

    app = host_app("test", [worker], new_registry(), connect)
    async with app.router.lifespan_context(app):
        exchange = adapters.topology.exchange(COMMANDS)
        await adapters.bus.publish(exchange, "cmd.command", b"{}", message_id="m")
        await asyncio.wait_for(worker.started_handling.wait(), 5)
    assert worker.stopped
    return worker


async def test_work_in_hand_finishes_before_the_components_stop() -> None:
    assert (await shut_down_while_handling(0.3, drain_s=5)).found_stopped == [False]


async def test_work_outliving_the_drain_is_cut_off_before_the_components_stop() -> None:
    """Cancelled unacked (the broker gives it to the next), not left running on a provider
    that closes under it."""
    assert (await shut_down_while_handling(30, drain_s=0.2)).found_stopped == [False]
