"""The floor: a bare `websockets` server with no business logic, fed through Redis.

`python -m tests.bench.bare_server <port> <redis_url> <channel>`: every connected socket gets,
by `websockets.broadcast()`, each message published on the Redis pub/sub `channel`; a socket
that sends `replay <stream key>` gets the stream's entries (XRANGE, field `b`) one frame each,
then `done`. Prints `ready` once it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import cast

import redis.asyncio as redis
import websockets
from websockets.asyncio.server import ServerConnection, serve


async def run(port: int, redis_url: str, channel: str) -> None:
    """Serve until stdin closes."""
    client = redis.Redis.from_url(redis_url)

    async def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):  # clients just drop the TCP link
            async for message in ws:
                if isinstance(message, str) and message.startswith("replay "):
                    entries = await client.xrange(message[7:], "-", "+")
                    for _, fields in cast(list[tuple[bytes, dict[bytes, bytes]]], entries):
                        await ws.send(fields[b"b"].decode())
                    await ws.send("done")

    async with serve(
        handler, "127.0.0.1", port, compression=None, ping_interval=None, max_queue=None
    ) as server:
        pubsub = client.pubsub()
        await pubsub.subscribe(channel)

        async def relay() -> None:
            async for item in pubsub.listen():
                if item["type"] == "message":
                    websockets.broadcast(server.connections, item["data"].decode())

        relaying = asyncio.create_task(relay())
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        relaying.cancel()
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    await client.aclose()


def main() -> None:
    """Run the server (on uvloop, like the gateway under uvicorn)."""
    import uvloop

    uvloop.run(run(int(sys.argv[1]), sys.argv[2], sys.argv[3]))


if __name__ == "__main__":
    main()
