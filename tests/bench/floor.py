"""The bare floor: Huddle's chain with no business logic, over the same RabbitMQ and Redis.

client → WebSocket "gateway" → RabbitMQ (publisher confirms) → consumer → Redis pub/sub →
gateway → client. The gateway answers `command_received` after the broker's confirm and
`command_result` when the consumer's reply comes back over Redis, so each Huddle figure has its
floor. It speaks the client side of Huddle's protocol (`auth` → `connected`, `command` frames
with an `id`), so the same benchmark clients drive both. Two processes, like Huddle's gateway
and orchestrator: `python -m tests.bench.floor gateway|consumer` with FLOOR_* environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import websockets
from redis.asyncio import Redis
from websockets.asyncio.server import ServerConnection

from tests.processes import free_port, running
from tests.services_env import Backends


@dataclass(frozen=True)
class FloorConfig:
    """Where the floor's processes find the broker, Redis, each other and their port."""

    amqp_url: str
    redis_url: str
    namespace: str
    port: int
    # "classic": a transient queue and messages, as the bare numbers were measured;
    # "quorum": durable and persistent like Huddle's queues (what "nothing lost" costs).
    queue_type: str = "classic"

    async def declare(self, channel: aio_pika.abc.AbstractChannel) -> aio_pika.abc.AbstractQueue:
        """The floor's command queue, of `queue_type`."""
        if self.queue_type == "quorum":
            arguments: dict[str, Any] = {"x-queue-type": "quorum"}
            return await channel.declare_queue(self.queue, durable=True, arguments=arguments)
        return await channel.declare_queue(self.queue, durable=False)

    @property
    def delivery_mode(self) -> aio_pika.DeliveryMode:
        """Persistent messages on a quorum queue, transient on a classic one."""
        if self.queue_type == "quorum":
            return aio_pika.DeliveryMode.PERSISTENT
        return aio_pika.DeliveryMode.NOT_PERSISTENT

    @property
    def queue(self) -> str:
        return f"{self.namespace}.commands"

    @property
    def replies(self) -> str:
        return f"{self.namespace}:replies"

    @classmethod
    def from_env(cls) -> FloorConfig:
        """The configuration `run_floor` hands its processes."""
        return cls(
            os.environ["FLOOR_AMQP_URL"],
            os.environ["FLOOR_REDIS_URL"],
            os.environ["FLOOR_NAMESPACE"],
            int(os.environ.get("FLOOR_PORT", "0")),
            os.environ.get("FLOOR_QUEUE_TYPE", "classic"),
        )


async def _until_terminated() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def gateway(config: FloorConfig) -> None:
    """Serve WebSockets: publish each command with a confirm, forward replies from Redis."""
    sockets: dict[str, ServerConnection] = {}
    amqp = await aio_pika.connect_robust(config.amqp_url)
    channel = await amqp.channel(publisher_confirms=True)
    await config.declare(channel)
    redis = Redis.from_url(config.redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(config.replies)

    async def forward() -> None:
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            reply = json.loads(message["data"])
            ws = sockets.get(reply["socket"])
            if ws is not None:
                frame = {"event": "command_result", "ref": reply["ref"], "data": {"ok": True}}
                await ws.send(json.dumps(frame))

    async def serve(ws: ServerConnection) -> None:
        socket_id = uuid.uuid4().hex
        json.loads(await ws.recv())  # the `auth` frame; the floor checks nothing
        await ws.send(json.dumps({"event": "connected", "data": {"session_id": socket_id}}))
        sockets[socket_id] = ws
        try:
            async for raw in ws:
                frame = json.loads(raw)
                body = json.dumps({"socket": socket_id, "ref": frame.get("id"), **frame["data"]})
                await channel.default_exchange.publish(
                    aio_pika.Message(body.encode(), delivery_mode=config.delivery_mode),
                    routing_key=config.queue,
                )
                received = {"event": "command_received", "ref": frame.get("id"), "data": {}}
                await ws.send(json.dumps(received))
        finally:
            sockets.pop(socket_id, None)

    forwarding = asyncio.create_task(forward())
    async with websockets.serve(serve, "127.0.0.1", config.port, compression=None):
        await _until_terminated()
    forwarding.cancel()
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await redis.aclose()
    await amqp.close()


async def consumer(config: FloorConfig) -> None:
    """Take each command off the queue and publish its reply on Redis."""
    amqp = await aio_pika.connect_robust(config.amqp_url)
    channel = await amqp.channel()
    await channel.set_qos(prefetch_count=64)
    queue = await config.declare(channel)
    redis = Redis.from_url(config.redis_url)

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        command = json.loads(message.body)
        reply = {"socket": command["socket"], "ref": command["ref"]}
        await redis.publish(config.replies, json.dumps(reply))
        await message.ack()

    await queue.consume(handle)
    await _until_terminated()
    await redis.aclose()
    await amqp.close()


async def _delete_queue(amqp_url: str, name: str) -> None:
    amqp = await aio_pika.connect(amqp_url)
    try:
        channel = await amqp.channel()
        await channel.queue_delete(name)
    finally:
        await amqp.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the floor's gateway exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"floor gateway not listening on {port} after {timeout_s} s")


@contextmanager
def run_floor(backends: Backends, log_dir: Path, queue_type: str = "classic") -> Iterator[str]:
    """Start the floor's gateway and consumer; yield its WebSocket URL; remove its queue after."""
    namespace = f"bench-floor-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        "FLOOR_AMQP_URL": backends.amqp_url,
        "FLOOR_REDIS_URL": backends.redis_url,
        "FLOOR_NAMESPACE": namespace,
        "FLOOR_PORT": str(port),
        "FLOOR_QUEUE_TYPE": queue_type,
    }
    config = FloorConfig(backends.amqp_url, backends.redis_url, namespace, port, queue_type)
    try:
        with running({}, env, log_dir) as processes:
            processes.start("floor-consumer", "tests.bench.floor", FLOOR_ROLE="consumer")
            processes.start("floor-gateway", "tests.bench.floor", FLOOR_ROLE="gateway")
            _wait_listening(port, processes["floor-gateway"])
            yield f"ws://127.0.0.1:{port}/"
    finally:
        asyncio.run(_delete_queue(backends.amqp_url, config.queue))


def main() -> None:
    """Run one of the floor's processes (FLOOR_ROLE=gateway|consumer)."""
    role = os.environ.get("FLOOR_ROLE") or (sys.argv[1] if len(sys.argv) > 1 else "")
    config = FloorConfig.from_env()
    if role == "gateway":
        asyncio.run(gateway(config))
    elif role == "consumer":
        asyncio.run(consumer(config))
    else:
        raise SystemExit("usage: FLOOR_ROLE=gateway|consumer python -m tests.bench.floor")


if __name__ == "__main__":
    main()
