"""`make load`: many sockets on the local stack, each sending a command and a chat message.

Usage: `python -m tests.bench.load [--connections 2000] [--duration 60] [--interval 2]
[--channel-size 10] [--processes N] [--drain 1800] [--stall 120] [--quick]`.

One user per socket (a user's command results go to all of that user's sockets, so sharing
users would multiply them), members of one project whose channels hold `--channel-size`
sockets each. Every socket joins its channel, then every `--interval` s sends `/project list`
and a chat message. Afterwards it checks: no `error` frame or failed command, no socket lost;
every command got exactly one `command_result`; every chat message reached each member of
its channel (the sender included) exactly once and is in the channel's history exactly once.
Prints p50/p99 and the totals; exits 1 on any error or loss. After the last round it waits
for the answers as long as they keep coming: it gives up once none has come for `--stall` s,
or after `--drain` s in all, so a slower machine's longer backlog is not counted as lost.

Limits raised for the load (documented gateway settings): see `BENCH_ENV` in
`tests/bench/clients.py` (per-user sockets, per-socket frame rate, per-address connection
rate), plus `HUDDLE_SEND_QUEUE_MAX` (a burst of a channel's messages must not close a
socket whose client is busy) and `HUDDLE_ACCESS_TOKEN_TTL_S` (tokens outlive the run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

from tests.bench.clients import (
    BENCH_ENV,
    FRAME_TIMEOUT_S,
    add_to_project,
    make_users,
    percentile,
    worker_pool,
)
from tests.bench.report import record_load
from tests.client import Client, login
from tests.services_env import find_backends
from tests.stack import Stack, run_stack

LOAD_ENV = {**BENCH_ENV, "HUDDLE_SEND_QUEUE_MAX": "8192", "HUDDLE_ACCESS_TOKEN_TTL_S": "7200"}
COMMAND = "/project list"
ROOT = Path(__file__).resolve().parents[2]
RAMP_S = 600.0  # the longest every socket of a worker may take to log in and join


@dataclass(frozen=True)
class Assignment:
    """One worker's share: whole channels, so it can check their deliveries by itself."""

    ws_url: str
    auth_url: str
    project_id: str
    channels: dict[str, list[str]]  # channel → usernames (password = name)
    rounds: int  # commands and messages per socket
    interval_s: float
    start_at: float  # wall clock: when the first round starts
    drain_s: float  # how long after the last round answers may take, at most
    stall_s: float  # how long the drain waits with no answer arriving before it gives up
    opening: int = 16  # sockets logging in and joining at once: the ramp is not the load


@dataclass
class LoadOutcome:
    """What a worker saw: latencies (s), errors, and what was sent and delivered."""

    received: list[float] = field(default_factory=list)
    results: list[float] = field(default_factory=list)
    messages: list[float] = field(default_factory=list)  # send → the sender's own copy
    errors: list[str] = field(default_factory=list)
    connections: int = 0
    commands_sent: int = 0
    commands_answered: int = 0
    duplicate_results: int = 0
    messages_sent: dict[str, list[str]] = field(default_factory=dict)  # channel → texts
    deliveries: int = 0
    lost_deliveries: int = 0
    duplicate_deliveries: int = 0
    told_busy: int = 0  # `command_received` frames that carried `queued_ahead`
    most_queued_ahead: int = 0


class _Countdown:
    """Set once each of `size` sockets has counted itself (at most once each)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.reached = asyncio.Event()
        self.counted: set[int] = set()
        if size == 0:
            self.reached.set()

    def count(self, socket: object) -> None:
        """This socket is through (or failed: it must not hold the others)."""
        if id(socket) not in self.counted:
            self.counted.add(id(socket))
            self.left -= 1
            if self.left == 0:
                self.reached.set()


class _Team:
    """The sockets of one worker: all joined before any sends, all sent before the drain."""

    def __init__(self, size: int, opening: int) -> None:
        self.joined = _Countdown(size)
        self.sent = _Countdown(size)
        self.opening = asyncio.Semaphore(opening)
        self.last_answer = time.monotonic()  # a result or chat message, to any socket


class _Socket:
    """One member's socket: sends on schedule, records what comes back."""

    def __init__(
        self, job: Assignment, out: LoadOutcome, team: _Team, username: str, channel: str
    ) -> None:
        self.job, self.out, self.team = job, out, team
        self.username, self.channel = username, channel
        self.stage = "start"
        self.started: dict[str, float] = {}
        self.pending: set[str] = set()
        self.answered: set[str] = set()
        self.got: Counter[str] = Counter()
        self.own: dict[str, float] = {}

    async def run(self, index: int, of: int) -> None:
        """Log in, join, send every round, wait for every answer (bounded by the drain)."""
        try:
            await self._run(index, of)
        except Exception as failure:
            raise RuntimeError(f"{self.username} failed at {self.stage}: {failure!r}") from failure
        finally:
            self.team.joined.count(self)
            self.team.sent.count(self)

    async def _open(self) -> websockets.ClientConnection:
        """Log in, connect, authenticate and join the channel."""
        job = self.job
        self.stage = "login"
        async with httpx.AsyncClient(base_url=job.auth_url, timeout=120) as http:
            response = await http.post(
                "/auth/login", json={"username": self.username, "password": self.username}
            )
            response.raise_for_status()
            token = response.json()["access_token"]
        ws = await websockets.connect(
            job.ws_url, compression=None, open_timeout=120, max_size=None, ping_timeout=120
        )
        try:
            self.stage = "auth"
            await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
            where = {"project_id": job.project_id, "channel": self.channel}
            await ws.send(json.dumps({"event": "join_channel", "id": "join", "data": where}))
            self.stage = "join"
            async with asyncio.timeout(120):
                while (answer := json.loads(await ws.recv())).get("ref") != "join":
                    pass
            if answer["event"] != "joined_channel":
                raise RuntimeError(f"join refused: {answer}")
        except BaseException:
            await ws.close()
            raise
        return ws

    async def _run(self, index: int, of: int) -> None:
        job = self.job
        async with self.team.opening:
            ws = await self._open()
        where = {"project_id": job.project_id, "channel": self.channel}
        async with ws:
            self.stage = "send"
            self.out.connections += 1
            reader = asyncio.create_task(self._read(ws))
            self.team.joined.count(self)
            async with asyncio.timeout(RAMP_S):
                await self.team.joined.reached.wait()
            await self._send_rounds(ws, where, index, of)
            self.team.sent.count(self)
            try:
                async with asyncio.timeout(job.drain_s):
                    await self.team.sent.reached.wait()
                    while self.pending or self._missing() or reader.done():
                        if reader.done():
                            return  # the socket closed: the reader recorded it
                        if time.monotonic() - self.team.last_answer > job.stall_s:
                            self._unanswered(f"no answer for {job.stall_s:.0f} s")
                            return
                        await asyncio.sleep(0.2)  # a bounded drain poll, not synchronisation
            except TimeoutError:
                self._unanswered(f"the drain's {job.drain_s:.0f} s")
            finally:
                reader.cancel()

    def _unanswered(self, after: str) -> None:
        self.out.errors.append(
            f"{self.username}: {len(self.pending)} commands unanswered, "
            f"{self._missing()} messages missing after {after}"
        )

    def _missing(self) -> int:
        return sum(1 for t in self.out.messages_sent.get(self.channel, []) if not self.got[t])

    async def _send_rounds(
        self, ws: websockets.ClientConnection, where: dict[str, str], index: int, of: int
    ) -> None:
        job = self.job
        offset = job.interval_s * index / max(1, of)  # spread the sockets over the interval
        start = max(job.start_at, time.time())  # later if joining took longer than planned
        for k in range(job.rounds):
            await asyncio.sleep(max(0.0, start + offset + k * job.interval_s - time.time()))
            ref = f"c{k}"
            self.started[ref] = time.perf_counter()
            self.pending.add(ref)
            self.out.commands_sent += 1
            await ws.send(json.dumps({"event": "command", "id": ref, "data": {"command": COMMAND}}))
            text = f"load {self.username} #{k}"
            self.own[text] = time.perf_counter()
            self.out.messages_sent.setdefault(self.channel, []).append(text)
            frame = {"event": "message", "id": f"m{k}", "data": {**where, "text": text}}
            await ws.send(json.dumps(frame))

    async def _read(self, ws: websockets.ClientConnection) -> None:
        try:
            async for raw in ws:
                self._frame(json.loads(raw), time.perf_counter())
        except websockets.ConnectionClosed as closed:
            self.out.errors.append(f"{self.username}: socket closed at {self.stage}: {closed!r}")

    def _frame(self, frame: dict[str, object], now: float) -> None:
        event, ref, data = frame.get("event"), frame.get("ref"), frame.get("data")
        if event in ("message", "command_result"):
            self.team.last_answer = time.monotonic()
        if event == "message" and isinstance(data, dict):
            text = str(data.get("text"))
            self.got[text] += 1
            if text in self.own and self.got[text] == 1:
                self.out.messages.append(now - self.own[text])
        elif event == "command_received" and isinstance(ref, str) and ref in self.started:
            self.out.received.append(now - self.started[ref])
            ahead = data.get("queued_ahead") if isinstance(data, dict) else None
            if isinstance(ahead, int):
                self.out.told_busy += 1
                self.out.most_queued_ahead = max(self.out.most_queued_ahead, ahead)
        elif event == "command_result" and isinstance(ref, str) and ref in self.started:
            if ref in self.answered:
                self.out.duplicate_results += 1
                return
            self.answered.add(ref)
            self.pending.discard(ref)
            self.out.commands_answered += 1
            self.out.results.append(now - self.started[ref])
            if not isinstance(data, dict) or not data.get("ok"):
                self.out.errors.append(f"{self.username}: command failed {data}")
        elif event == "error":
            self.out.errors.append(f"{self.username}: error {data} (ref {ref})")


async def _run(job: Assignment) -> LoadOutcome:
    out = LoadOutcome()
    team = _Team(sum(len(usernames) for usernames in job.channels.values()), job.opening)
    sockets = [
        _Socket(job, out, team, username, channel)
        for channel, usernames in job.channels.items()
        for username in usernames
    ]
    runs = [s.run(i, len(sockets)) for i, s in enumerate(sockets)]
    for failure in await asyncio.gather(*runs, return_exceptions=True):
        if isinstance(failure, BaseException):
            out.errors.append(f"socket failed: {failure!r}")
    # Every message of a channel must have reached each of its members exactly once.
    by_channel: dict[str, list[_Socket]] = {}
    for s in sockets:
        by_channel.setdefault(s.channel, []).append(s)
    for channel, members in by_channel.items():
        for text in out.messages_sent.get(channel, []):
            for member in members:
                count = member.got[text]
                out.deliveries += count
                out.lost_deliveries += count == 0
                out.duplicate_deliveries += max(0, count - 1)
    return out


def run_worker(job: Assignment) -> LoadOutcome:
    """A worker process's job: run its sockets, return what they saw."""
    return asyncio.run(_run(job))


async def _project(stack: Stack, usernames: Sequence[str], channels: Sequence[str]) -> str:
    """A project (registered by the demo user) with the channels and every user a member."""
    ids = await make_users(stack.redis_url, stack.namespace, usernames)
    client = await Client.connect(stack.ws_url, await login(stack.url("auth")))
    try:
        registered = await client.command(f"/project register load-{stack.namespace}")
    finally:
        await client.close()
    project_id = str(registered["data"]["result"]["project_id"])
    await add_to_project(stack.redis_url, stack.namespace, project_id, ids, channels)
    return project_id


async def _history_check(stack: Stack, project_id: str, sent: dict[str, list[str]]) -> list[str]:
    """Each channel's history holds each sent message exactly once; return what is wrong."""
    problems: list[str] = []
    token = await login(stack.url("auth"))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.url("sync"), timeout=60, headers=headers) as http:
        for channel, texts in sent.items():
            seen: Counter[str] = Counter()
            before: int | None = None
            for _ in range(10_000):  # bounded: far more pages than any run writes
                params: dict[str, int] = {"limit": 200} | ({"before": before} if before else {})
                response = await http.get(f"/api/messages/{project_id}/{channel}", params=params)
                response.raise_for_status()
                page = response.json()
                seen.update(
                    str(item["data"].get("text"))
                    for item in page["items"]
                    if item.get("event") == "message"
                )
                before = page["next_before"]
                if before is None:
                    break
            missing = sum(1 for t in texts if seen[t] == 0)
            doubled = sum(1 for t in texts if seen[t] > 1)
            if missing or doubled:
                problems.append(f"#{channel}: {missing} missing, {doubled} doubled in history")
    return problems


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between rounds")
    parser.add_argument("--channel-size", type=int, default=10, help="sockets per channel")
    parser.add_argument("--processes", type=int, default=0, help="client processes (0: auto)")
    # An offered load above what the stack processes queues up (durably) and is answered late,
    # which is not a loss: the drain waits while answers keep coming, however slow the machine.
    parser.add_argument("--drain", type=float, default=1800.0, help="max seconds to finish")
    parser.add_argument(
        "--stall", type=float, default=120.0, help="give up after this long with no answer"
    )
    parser.add_argument(
        "--opening", type=int, default=16, help="sockets per process logging in at once"
    )
    parser.add_argument("--quick", action="store_true", help="200 sockets for 10 s: a smoke run")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs", help="where docs/benchmarks.md is (full runs)"
    )
    args = parser.parse_args()
    if args.quick:
        args.connections, args.duration = min(args.connections, 200), min(args.duration, 10.0)
    if args.processes <= 0:
        args.processes = max(2, min(8, args.connections // 400))
    return args


def _summary(out: LoadOutcome, history: list[str], elapsed_s: float) -> list[str]:
    lost_commands = out.commands_sent - out.commands_answered
    sent_messages = sum(len(t) for t in out.messages_sent.values())

    def ms(values: list[float]) -> str:
        p50, p99 = (1000 * percentile(values, q) for q in (0.5, 0.99))
        return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"

    return [
        f"connections: {out.connections}",
        f"commands: {out.commands_sent} sent, {out.commands_answered} answered, "
        f"{lost_commands} unanswered, {out.duplicate_results} answered twice",
        f"chat messages: {sent_messages} sent, {out.deliveries} deliveries, "
        f"{out.lost_deliveries} not delivered, {out.duplicate_deliveries} duplicated",
        f"history: {'complete, each message once' if not history else '; '.join(history[:5])}",
        f"errors: {len(out.errors)}" + "".join(f"\n  {n} x {e}" for e, n in _kinds(out.errors)),
        f"→ command_received: {ms(out.received)}; {out.told_busy} of them said the system "
        f"was behind (`queued_ahead`, up to {out.most_queued_ahead} commands waiting)",
        f"→ command_result: {ms(out.results)}",
        f"→ message back to its sender: {ms(out.messages)}",
        f"rate: {(out.commands_sent + sent_messages) / elapsed_s:.0f} frames/s sent over "
        f"{elapsed_s:.0f} s (incl. drain)",
    ]


def _load(args: argparse.Namespace, log_dir: Path) -> tuple[LoadOutcome, list[str], float]:
    """Start the stack, run the sockets in worker processes, check the history."""
    usernames = [f"load-{i}" for i in range(args.connections)]
    count = (args.connections + args.channel_size - 1) // args.channel_size
    names = [f"load-{i}" for i in range(count)]
    with run_stack(find_backends([]), log_dir, LOAD_ENV) as stack:
        print(f"stack up; creating {len(usernames)} users in {count} channels", flush=True)
        project_id = asyncio.run(_project(stack, usernames, names))
        shares: list[dict[str, list[str]]] = [{} for _ in range(args.processes)]
        for i, name in enumerate(names):
            members = usernames[i * args.channel_size : (i + 1) * args.channel_size]
            shares[i % args.processes][name] = members
        rounds = max(1, int(args.duration / args.interval))
        # Time for every worker to start, log in and join before the first round.
        start_at = time.time() + 10 + args.connections / 100
        jobs = [
            Assignment(
                stack.ws_url,
                stack.url("auth"),
                project_id,
                share,
                rounds,
                args.interval,
                start_at,
                args.drain,
                args.stall,
                args.opening,
            )
            for share in shares
            if share
        ]
        print(
            f"{args.connections} sockets in {len(jobs)} processes, {rounds} rounds every "
            f"{args.interval} s from {time.strftime('%H:%M:%S', time.localtime(start_at))}",
            flush=True,
        )
        total = LoadOutcome()
        budget = start_at - time.time() + args.duration + args.drain + RAMP_S + 2 * FRAME_TIMEOUT_S
        with worker_pool(len(jobs)) as pool:
            for outcome in pool.map(run_worker, jobs, timeout=budget):
                _merge(total, outcome)
        elapsed = time.time() - start_at
        history = asyncio.run(_history_check(stack, project_id, total.messages_sent))
    return total, history, elapsed


def _kinds(errors: list[str]) -> list[tuple[str, int]]:
    """The errors grouped by kind (user names and numbers blanked), most frequent first."""
    return Counter(re.sub(r"\d+", "N", e)[:160] for e in errors).most_common(10)


def main() -> None:
    """Run the load, print the figures, exit 1 on any error or loss."""
    args = _parse()
    log_dir = Path(tempfile.mkdtemp(prefix="huddle-load-"))
    total, history, elapsed = _load(args, log_dir)
    failed = bool(
        total.errors
        or history
        or total.commands_sent != total.commands_answered
        or total.duplicate_results
        or total.lost_deliveries
        or total.duplicate_deliveries
        or total.connections != args.connections
    )
    verdict = "FAILED: errors or losses" if failed else "OK: zero errors, zero lost"
    lines = [*_summary(total, history, elapsed), verdict]
    print("\n".join(lines))
    if not args.quick:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        setup = (
            f"{when}: {args.connections} sockets (one user each, {args.channel_size} per "
            f"channel) in {args.processes} processes, a command and a chat message each every "
            f"{args.interval} s for {args.duration:.0f} s, then up to {args.drain:.0f} s for "
            f"the answers (while one came in the last {args.stall:.0f} s); "
            f"limits raised: {', '.join(LOAD_ENV)}"
        )
        record_load(args.out, "\n".join([setup, *lines]))
    if failed:
        print(f"the services' logs are in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    sys.exit(1 if failed else 0)


def _merge(total: LoadOutcome, part: LoadOutcome) -> None:
    for name in ("received", "results", "messages", "errors"):
        getattr(total, name).extend(getattr(part, name))
    for name in (
        "connections",
        "commands_sent",
        "commands_answered",
        "duplicate_results",
        "deliveries",
        "lost_deliveries",
        "duplicate_deliveries",
        "told_busy",
    ):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.most_queued_ahead = max(total.most_queued_ahead, part.most_queued_ahead)
    total.messages_sent |= part.messages_sent


if __name__ == "__main__":
    main()
