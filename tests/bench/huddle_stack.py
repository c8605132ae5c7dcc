"""A local stack set up for the scale benchmarks: limits raised, a project, members with tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from tests.bench.figures import BenchContext
from tests.client import Client, login
from tests.stack import Stack, run_stack

SOCKETS_PER_USER = 1000  # the highest HUDDLE_MAX_CONNECTIONS_PER_USER allows
PASSWORD = "bench-long-password"

# What a scale run needs that a real deployment limits: many sockets per user and per address,
# frames as fast as a poster sends them, tokens that outlive the run.
BENCH_ENV = {
    "HUDDLE_MAX_CONNECTIONS_PER_USER": str(SOCKETS_PER_USER),
    "HUDDLE_CONNECT_RATE_PER_S": "100000",
    "HUDDLE_CONNECT_BURST": "100000",
    "HUDDLE_RATE_LIMIT_PER_S": "100000",
    "HUDDLE_RATE_LIMIT_BURST": "100000",
    "HUDDLE_ACCESS_TOKEN_TTL_S": "7200",
    "HUDDLE_SEND_QUEUE_MAX": "4096",
    "HUDDLE_LOG_LEVEL": "WARNING",
    "HUDDLE_JOIN_HISTORY": "0",  # a join's answer stays small; history is not what is measured
}


@dataclass(frozen=True)
class Room:
    """A stack, a project channel, the demo user's token and the tokens of its members."""

    stack: Stack
    project_id: str
    channel: str
    demo_token: str
    tokens: list[str]

    @property
    def join(self) -> str:
        return f"{self.project_id}/{self.channel}"


async def _setup(stack: Stack, users: int) -> Room:
    auth = stack.url("auth")
    demo = await login(auth)
    client = await Client.connect(stack.ws_url, demo)
    try:
        result = await client.command("/project register Bench Room")
    finally:
        await client.close()
    project_id = str(result["data"]["result"]["project_id"])
    tokens: list[str] = []
    bearer = {"Authorization": f"Bearer {demo}"}
    async with httpx.AsyncClient(base_url=auth, timeout=30, headers=bearer) as http:
        for i in range(users):
            name = f"bench{i}"
            body = {"username": name, "password": PASSWORD, "roles": ["member"]}
            created = await http.post("/auth/users", json=body)
            created.raise_for_status()
            user_id = created.json()["id"]
            added = await http.put(f"/auth/projects/{project_id}/members/{user_id}")
            added.raise_for_status()
            tokens.append(await login(auth, name, PASSWORD))
    return Room(stack, project_id, "general", demo, tokens)


@contextmanager
def bench_room(ctx: BenchContext, name: str, sockets: int) -> Iterator[Room]:
    """A stack (one gateway) with enough users for `sockets` sockets in one channel."""
    log_dir = ctx.work_dir / name
    log_dir.mkdir(parents=True, exist_ok=True)
    with run_stack(ctx.backends, log_dir, BENCH_ENV) as stack:
        users = max(1, -(-sockets // (SOCKETS_PER_USER // 2)))  # half-full: room for a spare
        yield asyncio.run(_setup(stack, users))
