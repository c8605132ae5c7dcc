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
from services.common.settings import CommonSettings
from services.common.topology import COMMANDS, ORCHESTRATOR_QUEUE


class SlowWorker:
    """A component whose handler needs what its stop releases."""

    name = "worker"

    def __init__(self) -> None:
        self.router = APIRouter()
        self.stopped = False
        self.started_handling = asyncio.Event()
        self.found_stopped: list[bool] = []

    async def start(self, adapters: Adapters) -> None:
        await adapters.bus.consume(ORCHESTRATOR_QUEUE, self.handle)

    async def handle(self, delivery: Delivery) -> None:
        self.started_handling.set()
        await asyncio.sleep(0.3)
        self.found_stopped.append(self.stopped)

    async def stop(self) -> None:
        self.stopped = True


async def test_work_in_hand_finishes_before_the_components_stop() -> None:
    adapters = memory_adapters(CommonSettings(namespace="unit"))
    worker = SlowWorker()

    async def connect() -> Adapters:
        return adapters

    app = host_app("test", [worker], new_registry(), connect)
    async with app.router.lifespan_context(app):
        exchange = adapters.topology.exchange(COMMANDS)
        await adapters.bus.publish(exchange, "cmd.command", b"{}", message_id="m")
        await asyncio.wait_for(worker.started_handling.wait(), 5)
    assert worker.found_stopped == [False]
    assert worker.stopped
