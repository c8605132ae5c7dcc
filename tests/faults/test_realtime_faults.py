"""Faults: a gateway killed under its clients, Redis restarted during traffic, a slow reader."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.client import Client, Frame, login
from tests.faults.private_redis import PrivateRedis
from tests.processes import free_port, wait_ready
from tests.services_env import Backends
from tests.stack import Stack, run_stack
from tests.users import add_member

COUNT = 2500


@pytest.fixture(scope="module")
def stack(
    backends: Backends, redis_server: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack on the shared RabbitMQ and a Redis of its own, with a small send queue."""
    own = Backends(backends.amqp_url, redis_server.url)
    env = {
        "HUDDLE_SEND_QUEUE_MAX": "16",
        "HUDDLE_RATE_LIMIT_PER_S": "5000",
        "HUDDLE_RATE_LIMIT_BURST": "5000",
        "HUDDLE_FANOUT_PROBE_S": "0.3",
        "HUDDLE_PRESENCE_TTL_S": "1.5",
    }
    with run_stack(own, tmp_path_factory.mktemp("faults"), env) as running_stack:
        yield running_stack


async def joined(stack: Stack, ws_url: str, project_id: str, token: str) -> Client:
    client = await Client.connect(ws_url, token)
    ref = await client.send("join_channel", {"project_id": project_id, "channel": "general"})
    answer = await client.wait_for(lambda f: f.get("ref") == ref)
    assert answer["event"] == "joined_channel", answer
    return client


async def new_project(stack: Stack, name: str) -> tuple[str, str]:
    token = await login(stack.url("auth"))
    owner = await Client.connect(stack.ws_url, token)
    registered = await owner.command(f"/project register {name}")
    await owner.close()
    return registered["data"]["result"]["project_id"], token


def texts(frames: list[Frame]) -> list[str]:
    return [f["data"]["text"] for f in frames if f["event"] == "message"]


async def say(client: Client, project_id: str, count: int, prefix: str) -> None:
    for i in range(count):
        await client.send(
            "message", {"project_id": project_id, "channel": "general", "text": f"{prefix}{i}"}
        )


async def test_clients_of_a_killed_gateway_resume_on_another(stack: Stack) -> None:
    """kill -9 a gateway; its clients reconnect to a second one and miss nothing."""
    port = free_port()
    second = stack.processes.start("gateway-2", "services.gateway", HUDDLE_GATEWAY_PORT=str(port))
    wait_ready(f"http://127.0.0.1:{port}/readyz", second)
    other_ws = f"ws://127.0.0.1:{port}/ws"
    project_id, token = await new_project(stack, "gateway-crash")
    alice = await joined(stack, other_ws, project_id, token)
    bob = await joined(stack, stack.ws_url, project_id, token)
    try:
        await say(alice, project_id, 20, "before-")
        await bob.wait_for(lambda f: f["event"] == "message" and f["data"]["text"] == "before-19")
        stack.processes.kill("gateway")
        await say(alice, project_id, 50, "during-")
        await alice.wait_for(lambda f: f["event"] == "message" and f["data"]["text"] == "during-49")
        bob.ws_url = other_ws
        resumed = await bob.reconnect()
        assert resumed["data"][f"channel:{project_id}/general"]["recovered"] is True
        expected = [f"before-{i}" for i in range(20)] + [f"during-{i}" for i in range(50)]
        assert texts(bob.frames) == expected
    finally:
        await alice.close()
        await bob.close()
        restarted = stack.processes.start("gateway", "services.gateway")
        wait_ready(stack.url("gateway") + "/readyz", restarted)
        second.terminate()
        second.wait(timeout=15)


async def test_a_redis_restart_loses_nothing_for_connected_clients(
    stack: Stack, redis_server: PrivateRedis
) -> None:
    """Redis goes down and comes back mid-traffic; every message arrives once, in order."""
    project_id, token = await new_project(stack, "redis-restart")
    alice = await joined(stack, stack.ws_url, project_id, token)
    bob = await joined(stack, stack.ws_url, project_id, token)
    try:
        sender = asyncio.create_task(paced(alice, project_id, 150))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(redis_server.restart, 1.0)
        await sender
        await bob.wait_for(
            lambda f: f["event"] == "message" and f["data"]["text"] == "m149", within_s=60
        )
        assert texts(bob.frames) == [f"m{i}" for i in range(150)]
        seqs = [f["seq"] for f in bob.frames if f["event"] == "message"]
        assert seqs == list(range(seqs[0], seqs[0] + 150))
    finally:
        await alice.close()
        await bob.close()


async def paced(client: Client, project_id: str, count: int) -> None:
    for i in range(count):
        await client.send(
            "message", {"project_id": project_id, "channel": "general", "text": f"m{i}"}
        )
        await asyncio.sleep(0.02)


async def test_a_reader_that_never_reads_does_not_slow_the_others(stack: Stack) -> None:
    """A socket that stops reading is closed 4008; the others get every message promptly."""
    project_id, token = await new_project(stack, "slow-reader")
    alice = await joined(stack, stack.ws_url, project_id, token)
    bob = await joined(stack, stack.ws_url, project_id, token)
    stuck = await joined(stack, stack.ws_url, project_id, token)
    stuck._reader.cancel()  # from now on nobody reads this socket
    try:
        # Enough to fill the kernel's socket buffers too (several MB on loopback).
        big = "x" * 3900
        for i in range(COUNT):
            await alice.send(
                "message", {"project_id": project_id, "channel": "general", "text": f"{i}{big}"}
            )
        await bob.wait_for(
            lambda f: f["event"] == "message" and f["data"]["text"].startswith(f"{COUNT - 1}x"),
            within_s=90,
        )
        assert len(texts(bob.frames)) == COUNT
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(stack.url("gateway") + "/metrics")).text
        assert "huddle_gateway_slow_clients_closed_total 1.0" in metrics
    finally:
        await alice.close()
        await bob.close()
        await stuck.ws.close()


async def test_users_of_a_crashed_gateway_leave_presence_within_its_ttl(stack: Stack) -> None:
    """kill -9 the gateway holding carol: the others see her gone within the presence TTL."""
    port = free_port()
    second = stack.processes.start("gateway-3", "services.gateway", HUDDLE_GATEWAY_PORT=str(port))
    wait_ready(f"http://127.0.0.1:{port}/readyz", second)
    project_id, token = await new_project(stack, "presence-crash")
    await add_member(stack.redis_url, stack.namespace, project_id, "carol")
    alice = await joined(stack, stack.ws_url, project_id, token)
    carol_token = await login(stack.url("auth"), "carol", "carol")
    carol = await joined(stack, f"ws://127.0.0.1:{port}/ws", project_id, carol_token)
    try:
        await alice.wait_for(lambda f: f["event"] == "presence" and len(f["data"]["users"]) == 2)
        stack.processes.kill("gateway-3")
        count = len(alice.frames)
        gone = await alice.wait_for(
            lambda f: f["event"] == "presence" and len(f["data"]["users"]) == 1,
            within_s=5,
            start=count,
        )
        assert [u["username"] for u in gone["data"]["users"]] == ["demo"]
    finally:
        await alice.close()
        carol._reader.cancel()
