"""A socket answers pings while its command waits for the broker (under uvicorn, as served).

uvicorn stops reading a WebSocket after each message until the app asks for the next one; a
gateway that handled a command before reading on left the client's pings unanswered for as long
as the broker took to confirm, and clients closed healthy sockets ("keepalive ping timeout").
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from services.common.adapters import Adapters, memory_adapters
from services.common.http import host_app, new_registry
from services.common.shutdown import GoingAwayProtocol
from services.gateway.app import GatewayService
from services.gateway.settings import GatewaySettings
from tests.processes import free_port
from tests.unit.test_gateway_sockets import KEYRING, token


class GatedPublish:
    """Holds every publish until `release` is set: a broker slow to confirm what it was
    handed, or (`handed_over=False`) one that blocks publishers (a memory alarm)."""

    def __init__(self, real: Any, *, handed_over: bool = True) -> None:
        self.real = real
        self.handed_over = handed_over
        self.release = threading.Event()
        self.waiting = threading.Event()
        self.calls = 0

    async def __call__(self, *args: Any, **kw: Any) -> None:
        self.calls += 1
        on_sent = kw.pop("on_sent", None)
        if self.handed_over and on_sent is not None:
            on_sent()
        self.waiting.set()
        # A thread's event (set from the test's loop): waited for in a thread of its own.
        await asyncio.to_thread(self.release.wait, 30)
        await self.real(*args, **kw)


@contextmanager
def served_gateway(
    adapters: Adapters, protocol: type[GoingAwayProtocol] = GoingAwayProtocol
) -> Iterator[tuple[str, uvicorn.Server]]:
    """The gateway under uvicorn with Huddle's socket protocol, on a free port."""
    settings = GatewaySettings(namespace="unit", token_leeway_s=0)
    registry = new_registry()
    gateway = GatewayService(settings, registry, keys=KEYRING, public_auth_url="")

    async def connect() -> Adapters:
        return adapters

    app = host_app("test gateway", [gateway], registry, connect)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ws=protocol, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}/ws", server
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def gated_adapters(*, handed_over: bool = True) -> tuple[Adapters, GatedPublish]:
    """In-process adapters whose publishes wait at a gate (`GatedPublish`)."""
    adapters = memory_adapters(GatewaySettings(namespace="unit"))
    gated = GatedPublish(adapters.bus.publish, handed_over=handed_over)
    adapters.bus.publish = gated  # type: ignore[method-assign]
    return adapters, gated


async def authenticated(ws: ClientConnection) -> None:
    """Send `auth` with a valid token and take the `connected` answer."""
    await ws.send(json.dumps({"event": "auth", "data": {"token": token()}}))
    assert json.loads(await ws.recv())["event"] == "connected"


async def test_pings_are_answered_while_a_command_waits_for_the_broker() -> None:
    adapters, gated = gated_adapters()
    with served_gateway(adapters) as (url, _):
        async with websockets.connect(url, ping_interval=None, compression=None) as ws:
            await authenticated(ws)
            command = {"event": "command", "id": "c1", "data": {"command": "/help"}}
            await ws.send(json.dumps(command))
            await ws.send(json.dumps({"event": "ping", "id": "p1"}))
            assert await asyncio.to_thread(gated.waiting.wait, 5)

            pong = await ws.ping()
            started = time.monotonic()
            await asyncio.wait_for(pong, 2)  # the WebSocket ping: answered while publishing
            assert time.monotonic() - started < 1

            gated.release.set()
            # The frames themselves are still answered in the order they were sent.
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            second = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (first["event"], first["ref"]) == ("command_received", "c1")
            assert (second["event"], second["ref"]) == ("pong", "p1")
