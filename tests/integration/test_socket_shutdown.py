"""A gateway shutting down answers the frames it had read before it closes the socket 1001.

uvicorn's own shutdown closed every socket at once: a command already read was still
published (it ran), but its `command_received` never left, so the client marked it lost and
a person sent it again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

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
            late = {"event": "command", "id": "late", "data": {"command": "/help"}}
            await ws.send(json.dumps(late))  # not handled: refused at once, unread
            refused = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (refused["event"], refused["ref"]) == ("error", "late")
            assert refused["data"]["code"] == "unavailable"
            assert "shutting down" in refused["data"]["message"]
            gated.release.set()

            answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (answer["event"], answer["ref"]) == ("command_received", "c1")
            assert [json.loads(frame) async for frame in ws] == []
            assert ws.close_code == 1001
            assert ws.close_reason == "server shutting down"
        assert gated.calls == 1  # the late command was never published


async def test_frames_unhandled_at_the_drain_deadline_are_told_what_became_of_them() -> None:
    """A broker that does not confirm: at the deadline the command being published may
    still run (its id comes along, to match a result after a reconnect), the one queued
    behind it was not sent; then 1001."""
    adapters = memory_adapters(GatewaySettings(namespace="unit"))
    gated = GatedPublish(adapters.bus.publish)  # never released: a broker that hangs
    adapters.bus.publish = gated  # type: ignore[method-assign]
    with served_gateway(adapters, going_away_protocol(0.5)) as (url, server):
        async with websockets.connect(url, ping_interval=None, compression=None) as ws:
            await command_being_published(ws, gated)
            queued = {"event": "command", "id": "c2", "data": {"command": "/state"}}
            await ws.send(json.dumps(queued))
            await asyncio.sleep(0.2)  # read, and waiting behind c1

            started = time.monotonic()
            server.should_exit = True
            answers = {frame["ref"]: frame async for frame in _frames(ws)}
            assert time.monotonic() - started < 3
            assert ws.close_code == 1001
        gated.release.set()  # let the served thread finish
    assert answers["c2"]["data"]["code"] == "unavailable"
    assert "may_still_run" not in answers["c2"]["data"]
    in_doubt = answers["c1"]["data"]
    assert (in_doubt["code"], in_doubt["may_still_run"]) == ("unavailable", True)
    assert len(in_doubt["command_id"]) == 32


async def _frames(ws: ClientConnection) -> AsyncIterator[dict[str, Any]]:
    async for frame in ws:
        yield json.loads(frame)
