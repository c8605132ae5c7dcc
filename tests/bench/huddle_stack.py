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
    "HUDDLE_HTTP_RATE_LIMIT_PER_MIN": "0",  # every client logs in from this one address
    "HUDDLE_RATE_LIMIT_PER_S": "100000",
    "HUDDLE_RATE_LIMIT_BURST": "100000",
    "HUDDLE_ACCESS_TOKEN_TTL_S": "7200",
    "HUDDLE_SEND_QUEUE_MAX": "4096",
    "HUDDLE_LOG_LEVEL": "WARNING",
    "HUDDLE_JOIN_HISTORY": "0",  # a join's answer stays small; history is not what is measured
}


@dataclass(frozen=True)
class Room:
    """A stack, project channels, the demo user's token and the tokens of more users."""

    stack: Stack
    channels: list[str]  # "<project_id>/general"
    demo_token: str
    tokens: list[str]

    @property
    def project_id(self) -> str:
        return self.channels[0].split("/")[0]

    @property
    def channel(self) -> str:
        return self.channels[0].split("/")[1]

    @property
    def join(self) -> str:
        """What `tests.bench.swarm` workers join: every channel, spread over the sockets."""
        return ",".join(self.channels)


async def _setup(stack: Stack, users: int, projects: int) -> Room:
    auth = stack.url("auth")
    demo = await login(auth)
    client = await Client.connect(stack.ws_url, demo)
    channels: list[str] = []
    try:
        for i in range(projects):
            result = await client.command(f"/project register Bench Room {i}")
            channels.append(f"{result['data']['result']['project_id']}/general")
    finally:
        await client.close()
    tokens: list[str] = []
    bearer = {"Authorization": f"Bearer {demo}"}
    async with httpx.AsyncClient(base_url=auth, timeout=30, headers=bearer) as http:
        for i in range(users):
            name = f"bench{i}"
            # Admins may use every project: no membership to grant per project.
            body = {"username": name, "password": PASSWORD, "roles": ["admin", "member"]}
            (await http.post("/auth/users", json=body)).raise_for_status()
            tokens.append(await login(auth, name, PASSWORD))
    return Room(stack, channels, demo, tokens)


@contextmanager
def bench_room(ctx: BenchContext, name: str, sockets: int, projects: int = 1) -> Iterator[Room]:
    """A stack (one gateway) with users enough for `sockets` sockets, and `projects` channels."""
    log_dir = ctx.work_dir / name
    log_dir.mkdir(parents=True, exist_ok=True)
    with run_stack(ctx.backends, log_dir, BENCH_ENV) as stack:
        users = max(1, -(-sockets // (SOCKETS_PER_USER // 2)))  # half-full: room for a spare
        yield asyncio.run(_setup(stack, users, projects))
