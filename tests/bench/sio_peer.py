"""The peer: python-socketio's AsyncServer with its Redis manager (the original design's stack).

`python -m tests.bench.sio_peer <port> <redis_url> <channel>`: every client that connects to
the default namespace joins the room `bench`; whatever an `AsyncRedisManager` (write-only, same
Redis `channel`) emits to that room reaches them. Served by aiohttp on uvloop, websocket
transport only. Prints `ready` once it listens.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import socketio  # type: ignore[import-untyped]
from aiohttp import web

ROOM = "bench"


async def run(port: int, redis_url: str, channel: str) -> None:
    """Serve until stdin closes."""
    manager = socketio.AsyncRedisManager(redis_url, channel=channel)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        transports=["websocket"],
        logger=False,
        engineio_logger=False,
    )

    async def connect(sid: str, environ: dict[str, Any]) -> None:
        await sio.enter_room(sid, ROOM)

    sio.on("connect", connect)

    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await runner.cleanup()


def writer(redis_url: str, channel: str) -> Any:
    """What another service of the original design emits through: `await w.emit(..., room=ROOM)`."""
    return socketio.AsyncRedisManager(redis_url, channel=channel, write_only=True)


def main() -> None:
    """Run the server."""
    import uvloop

    uvloop.run(run(int(sys.argv[1]), sys.argv[2], sys.argv[3]))


if __name__ == "__main__":
    main()
