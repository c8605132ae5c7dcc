"""Graceful shutdown: sockets closed 1001 on SIGTERM, consumers drained before the bus closes."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.adapters import connect_adapters
from services.common.bus import Delivery
from services.common.runtime_settings import RuntimeSettings
from services.common.settings import CommonSettings
from services.common.topology import COMMANDS, ORCHESTRATOR_QUEUE
from tests.client import Client, login
from tests.processes import Processes, free_port, running, wait_ready
from tests.services_env import Backends


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[Processes, int]]:
    """Embedded Huddle (it is served like every service: the same uvicorn settings)."""
    port = free_port()
    with running({"huddle": "services"}, {"HUDDLE_PORT": str(port)}, tmp_path) as processes:
        wait_ready(f"http://127.0.0.1:{port}/readyz", processes["huddle"])
        yield processes, port


async def stopped(processes: Processes) -> None:
    """Wait for the process to exit after its components stopped."""
    # uvicorn re-raises the SIGTERM it caught once it is done: the status names the signal.
    assert await asyncio.to_thread(processes["huddle"].wait, 15) in (0, -signal.SIGTERM)
    log = (processes.log_dir / "huddle.log").read_text()
    assert "Application shutdown complete." in log


async def test_sigterm_closes_sockets_with_1001(embedded: tuple[Processes, int]) -> None:
    """The client learns the server is going away (1001), not restarting (uvicorn's 1012)."""
    processes, port = embedded
    client = await Client.connect(
        f"ws://127.0.0.1:{port}/ws", await login(f"http://127.0.0.1:{port}")
    )
    processes["huddle"].send_signal(signal.SIGTERM)
    await asyncio.wait_for(client._reader, 10)
    assert client.ws.close_code == 1001
    await stopped(processes)


async def drained(backends: Backends, namespace: str, handler_s: float, drain_s: float) -> int:
    """Close a bus while its handler holds a message; how often the message is handled after."""
    settings = CommonSettings(
        namespace=namespace, amqp_url=backends.amqp_url, redis_url=backends.redis_url
    )
    first = await connect_adapters(settings, runtime=RuntimeSettings(drain_s=drain_s))
    started, finished, cut_off = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow(delivery: Delivery) -> None:
        started.set()
        try:
            await asyncio.sleep(handler_s)
        except asyncio.CancelledError:
            cut_off.set()
            raise
        finished.set()

    await first.bus.consume(ORCHESTRATOR_QUEUE, slow)
    await first.bus.publish(first.topology.exchange(COMMANDS), "cmd.x", b"{}", message_id="m")
    await asyncio.wait_for(started.wait(), 5)
    closing = time.monotonic()
    await first.close()
    assert time.monotonic() - closing < drain_s + 2
    again: list[Delivery] = []
    second = await connect_adapters(settings)

    async def record(delivery: Delivery) -> None:
        again.append(delivery)

    await second.bus.consume(ORCHESTRATOR_QUEUE, record)
    await asyncio.sleep(1.0)
    await second.close()
    assert finished.is_set() == (handler_s < drain_s)
    # Not left running past the close with what it uses closing under it: cancelled, unacked.
    assert cut_off.is_set() == (handler_s >= drain_s)
    return len(again)


async def test_close_lets_handlers_in_flight_finish_and_ack(
    backends: Backends, namespace: str
) -> None:
    """A handler that finishes within the drain acks: nobody gets the message again."""
    assert await drained(backends, namespace, handler_s=0.5, drain_s=5) == 0


async def test_close_requeues_what_does_not_finish_in_time(
    backends: Backends, namespace: str
) -> None:
    """A handler slower than the drain is cut off; the broker gives its message to the next."""
    assert await drained(backends, namespace, handler_s=10, drain_s=0.5) == 1
