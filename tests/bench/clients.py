"""Benchmark clients: sockets that send commands and time the answers, in worker processes.

The same clients drive Huddle and the bare floor (both speak `auth` → `connected`, `command`
with an `id` → `command_received` / `command_result` with that `ref`). Every loop is bounded
in count and in time.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from argon2 import PasswordHasher
from redis.asyncio import Redis

# Every round trip must finish within this; a slower one counts as an error, not a hang.
FRAME_TIMEOUT_S = 30.0

# Huddle's limits that would refuse a benchmark (one user's many sockets, frames per second,
# new sockets and API requests per address), raised for it. Each is a documented setting.
BENCH_ENV = {
    "HUDDLE_MAX_CONNECTIONS_PER_USER": "1000",
    "HUDDLE_RATE_LIMIT_PER_S": "1000000",
    "HUDDLE_RATE_LIMIT_BURST": "1000000",
    "HUDDLE_CONNECT_RATE_PER_S": "100000",
    "HUDDLE_CONNECT_BURST": "100000",
    "HUDDLE_HTTP_RATE_LIMIT_PER_MIN": "0",  # every client logs in from this one address
}


@dataclass(frozen=True)
class Spec:
    """What one worker process runs: its clients and how long or how many commands."""

    ws_url: str
    auth_url: str | None  # None: the floor, which takes any token
    usernames: Sequence[str]  # one client per name (password = name)
    commands: int  # per client, at most
    duration_s: float  # sending stops after this; answers are awaited FRAME_TIMEOUT_S more
    start_at: float  # wall-clock time all workers start sending at
    command: str = "/project list"
    window: int = 1  # commands in flight per client


@dataclass
class Outcome:
    """What the clients of one or more workers measured (latencies in seconds)."""

    received: list[float] = field(default_factory=list)
    results: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    in_window: int = 0  # results that arrived within the sending time, for throughput

    def merge(self, other: Outcome) -> None:
        """Add another worker's measurements to these."""
        self.received += other.received
        self.results += other.results
        self.errors += other.errors
        self.sent += other.sent
        self.in_window += other.in_window


async def _login(auth_url: str | None, username: str) -> str:
    if auth_url is None:
        return ""
    async with httpx.AsyncClient(base_url=auth_url, timeout=60) as http:
        response = await http.post("/auth/login", json={"username": username, "password": username})
        response.raise_for_status()
        return str(response.json()["access_token"])


async def _client(spec: Spec, username: str, out: Outcome) -> None:
    token = await _login(spec.auth_url, username)
    async with websockets.connect(
        spec.ws_url, compression=None, open_timeout=FRAME_TIMEOUT_S, max_size=None
    ) as ws:
        await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
        async with asyncio.timeout(FRAME_TIMEOUT_S):
            while json.loads(await ws.recv())["event"] != "connected":
                pass
        await asyncio.sleep(max(0.0, spec.start_at - time.time()))
        deadline = time.time() + spec.duration_s
        started: dict[str, float] = {}
        pending: set[str] = set()

        async def send() -> None:
            ref = f"c{len(started)}"
            started[ref] = time.perf_counter()
            pending.add(ref)
            out.sent += 1
            frame = {"event": "command", "id": ref, "data": {"command": spec.command}}
            await ws.send(json.dumps(frame))

        for _ in range(min(spec.window, spec.commands)):
            await send()
        while pending:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_S))
            except TimeoutError:
                out.errors.append(f"{len(pending)} commands unanswered after {FRAME_TIMEOUT_S} s")
                return
            ref, event, now = frame.get("ref"), frame.get("event"), time.perf_counter()
            if ref not in started:
                continue
            if event == "command_received":
                out.received.append(now - started[ref])
            elif event == "command_result" and ref in pending:
                pending.discard(ref)
                out.results.append(now - started[ref])
                if not frame.get("data", {}).get("ok", False):
                    out.errors.append(f"command failed: {frame.get('data')}")
                if time.time() <= deadline:
                    out.in_window += 1
                    if len(started) < spec.commands:
                        await send()
            elif event == "error":
                pending.discard(ref)
                out.errors.append(f"error: {frame.get('data')}")


async def _run(spec: Spec) -> Outcome:
    out = Outcome()
    runs = [_client(spec, name, out) for name in spec.usernames]
    for failure in await asyncio.gather(*runs, return_exceptions=True):
        if isinstance(failure, BaseException):
            out.errors.append(f"client failed: {failure!r}")
    return out


def run_worker(spec: Spec) -> Outcome:
    """A worker process's job: run its clients, return what they measured."""
    return asyncio.run(_run(spec))


@contextmanager
def worker_pool(processes: int) -> Iterator[ProcessPoolExecutor]:
    """Worker processes (spawned: no inherited event loop or sockets) for the clients."""
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


def drive(
    pool: ProcessPoolExecutor,
    ws_url: str,
    auth_url: str | None,
    usernames: Sequence[str],
    *,
    processes: int,
    commands: int,
    duration_s: float,
    window: int = 1,
    command: str = "/project list",
) -> Outcome:
    """Run one client per username, spread over `processes` workers; merge what they measured."""
    # Time to log in and connect every client before anyone sends.
    start_at = time.time() + 2.0 + 0.05 * len(usernames)
    shares = [list(usernames[i::processes]) for i in range(processes)]
    specs = [
        Spec(ws_url, auth_url, share, commands, duration_s, start_at, command, window)
        for share in shares
        if share
    ]
    total = Outcome()
    for outcome in pool.map(run_worker, specs, timeout=start_at - time.time() + 120 + duration_s):
        total.merge(outcome)
    return total


def _cheap_users(redis: Redis, namespace: str) -> Any:
    from services.auth import users as auth_users
    from services.common.store_redis import RedisStore
    from services.common.topology import Topology

    auth_users._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return auth_users.Users(RedisStore(redis, Topology(namespace)))


async def make_users(redis_url: str, namespace: str, usernames: Sequence[str]) -> list[str]:
    """Create the users (password = name); return their ids.

    Their hashes are argon2 at its cheapest: creating and logging in thousands of benchmark
    users would otherwise cost minutes of CPU that no benchmark is about.
    """
    redis = Redis.from_url(redis_url)
    try:
        users = _cheap_users(redis, namespace)
        ids: list[str] = []
        for start in range(0, len(usernames), 100):
            batch = usernames[start : start + 100]
            created = await asyncio.gather(*(users.create(n, n, ["member"]) for n in batch))
            ids += [user.id for user in created]
        return ids
    finally:
        await redis.aclose()


async def add_to_project(
    redis_url: str,
    namespace: str,
    project_id: str,
    user_ids: Sequence[str],
    channels: Sequence[str] = (),
) -> None:
    """Make the users members of the project and give it the channels."""
    from services.common.store import Write
    from services.common.store_redis import RedisStore
    from services.common.topology import Topology

    redis = Redis.from_url(redis_url)
    try:
        store = RedisStore(redis, Topology(namespace))
        project = await store.get("project", project_id)
        assert project is not None, project_id
        state = {
            **project.state,
            "members": [*project.state["members"], *user_ids],
            "channels": [*project.state["channels"], *channels],
        }
        await store.commit([Write("project", project_id, state, project.version)])
    finally:
        await redis.aclose()


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of the values, nearest rank; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
