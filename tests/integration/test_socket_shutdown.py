"""A gateway shutting down answers the frames it had read before it closes the socket 1001.

uvicorn's own shutdown closed every socket at once: a command already read was still
published (it ran), but its `command_received` never left, so the client marked it lost and
a person sent it again.
"""

from __future__ import annotations

import asyncio
import json
import time

import websockets
from websockets.asyncio.client import ClientConnection

from services.common.adapters import memory_adapters
from services.common.shutdown import going_away_protocol
from services.gateway.settings import GatewaySettings
from tests.integration.test_socket_keepalive import GatedPublish, served_gateway
from tests.unit.test_gateway_sockets import token


async def command_being_published(ws: ClientConnection, gated: GatedPublish) -> None:
    """Authenticate and send command `c1`; return once its publish is held at the gate."""
    await ws.send(json.dumps({"event": "auth", "data": {"token": token()}}))
    assert json.loads(await ws.recv())["event"] == "connected"
    command = {"event": "command", "id": "c1", "data": {"command": "/help"}}
    await ws.send(json.dumps(command))
    assert await asyncio.to_thread(gated.waiting.wait, 5)


async def test_a_command_read_before_shutdown_is_answered_then_the_socket_closes_1001() -> None:
    adapters = memory_adapters(GatewaySettings(namespace="unit"))
    gated = GatedPublish(adapters.bus.publish)
    adapters.bus.publish = gated  # type: ignore[method-assign]
    with served_gateway(adapters, going_away_protocol(5.0)) as (url, server):
        async with websockets.connect(url, ping_interval=None, compression=None) as ws:
            await command_being_published(ws, gated)

            server.should_exit = True  # SIGTERM, as uvicorn handles it
            await asyncio.sleep(0.3)  # uvicorn has shut the connections down by now
            await ws.send(json.dumps({"event": "ping", "id": "late"}))  # read no more
            gated.release.set()

            answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (answer["event"], answer["ref"]) == ("command_received", "c1")
            frames = [json.loads(frame) async for frame in ws]
            assert not any(frame.get("ref") == "late" for frame in frames)
            assert ws.close_code == 1001
            assert ws.close_reason == "server shutting down"


async def test_a_socket_still_busy_after_the_drain_is_closed_1001_all_the_same() -> None:
    adapters = memory_adapters(GatewaySettings(namespace="unit"))
    gated = GatedPublish(adapters.bus.publish)  # never released: a broker that hangs
    adapters.bus.publish = gated  # type: ignore[method-assign]
    with served_gateway(adapters, going_away_protocol(0.5)) as (url, server):
        async with websockets.connect(url, ping_interval=None, compression=None) as ws:
            await command_being_published(ws, gated)

            started = time.monotonic()
            server.should_exit = True
            with_answers = [json.loads(frame) async for frame in ws]
            assert time.monotonic() - started < 3
            assert with_answers == []
            assert ws.close_code == 1001
        gated.release.set()  # let the served thread finish
