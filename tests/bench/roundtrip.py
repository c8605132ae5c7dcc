"""Command round trip: send → `command_received` and send → `command_result`, p50 and p99.

Huddle (the five-process local stack) and the bare floor, in the same run, with 1 client and
with 100 concurrent clients (in worker processes). `python -m tests.bench --only roundtrip`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from tests.bench.clients import BENCH_ENV, Outcome, drive, make_users, percentile, worker_pool
from tests.bench.figures import BenchContext, Figure, Target
from tests.bench.floor import run_floor
from tests.stack import Stack, run_stack

METHOD = """The command `/project list` (it reads the store, calls no agent), sent by
1 client (1,000 commands one after another, in 5 rounds of 200) and by 100 concurrent clients
in 4 worker processes (30 each, one after another, in 3 rounds of 10), each client a user of its
own logged in over HTTP. Huddle, the floor and the durable floor take turns round by round, so a
slow spell of the machine falls on all of them. Latency runs from the client's send to the
arrival of `command_received` and of `command_result`; p50/p99 are nearest-rank percentiles
over every command of every round. Huddle's limits that would refuse this are
raised by settings: `HUDDLE_MAX_CONNECTIONS_PER_USER`, `HUDDLE_RATE_LIMIT_PER_S`,
`HUDDLE_RATE_LIMIT_BURST`, `HUDDLE_CONNECT_RATE_PER_S`, `HUDDLE_CONNECT_BURST`,
`HUDDLE_HTTP_RATE_LIMIT_PER_MIN`."""

GROUP = "Command round trip"
DURABLE = "Command round trip beside a durable floor (quorum queue, persistent; no target)"
COMMAND = "/project list"  # real work (reads the store), no agent


# The ratios to the bare chain for the round trip.
P50 = Target("floor", 2.5, "p50 at most 2.5x the bare chain")
P99 = Target("floor", 3.0, "p99 at most 3x the bare chain")


@dataclass(frozen=True)
class Systems:
    """Huddle's stack and the floors, running side by side, with benchmark users.

    `floor` is the issue's bare chain (a transient classic queue unless BENCH_FLOOR_QUEUE says
    otherwise); `durable` is the same chain with Huddle's durability (a quorum queue and
    persistent messages), shown beside it so the cost of "nothing lost" is visible.
    """

    stack: Stack
    floor_urls: dict[str, str]
    usernames: list[str]
    names = ("huddle", "floor", "durable")

    def drive(
        self,
        pool: ProcessPoolExecutor,
        system: str,
        clients: int,
        *,
        processes: int,
        commands: int,
        duration_s: float,
        window: int = 1,
    ) -> Outcome:
        """Run `clients` clients of one system sending COMMAND; fail on any error."""
        huddle = system == "huddle"
        outcome = drive(
            pool,
            self.stack.ws_url if huddle else self.floor_urls[system],
            self.stack.url("auth") if huddle else None,
            self.usernames[:clients],
            processes=processes,
            commands=commands,
            duration_s=duration_s,
            window=window,
            command=COMMAND,
        )
        check(outcome, f"{system} with {clients} clients")
        return outcome


@contextmanager
def systems(ctx: BenchContext, users: int) -> Iterator[Systems]:
    """Start Huddle's stack and the floor; create `users` users on the stack."""
    with ExitStack() as stack:
        log_dir = ctx.work_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        huddle = stack.enter_context(run_stack(ctx.backends, log_dir, BENCH_ENV))
        floor_urls = {}
        for name, queue_type in (
            ("floor", os.environ.get("BENCH_FLOOR_QUEUE", "classic")),
            ("durable", "quorum"),
        ):
            logs = log_dir / name
            logs.mkdir(exist_ok=True)
            floor_urls[name] = stack.enter_context(run_floor(ctx.backends, logs, queue_type))
        usernames = [f"bench-{i}" for i in range(users)]
        asyncio.run(make_users(huddle.redis_url, huddle.namespace, usernames))
        yield Systems(huddle, floor_urls, usernames)


def _figures(
    clients: int, huddle: Outcome, floor: Outcome, *, group: str = GROUP, targets: bool = True
) -> list[Figure]:
    label = "1 client" if clients == 1 else f"{clients} clients"
    figures = []
    for point, h_values, f_values in (
        ("command_received", huddle.received, floor.received),
        ("command_result", huddle.results, floor.results),
    ):
        for name, q, target in (("p50", 0.5, P50), ("p99", 0.99, P99)):
            figures.append(
                Figure(
                    group,
                    f"→ {point}, {label}, {name}",
                    "ms",
                    1000 * percentile(h_values, q),
                    1000 * percentile(f_values, q),
                    target=target if targets else None,
                    note=f"{len(h_values)} / {len(f_values)} samples" if name == "p50" else "",
                )
            )
    return figures


def check(outcome: Outcome, what: str) -> None:
    """Fail the benchmark when any client saw an error: its figures would be meaningless."""
    if outcome.errors:
        raise RuntimeError(f"{what}: {len(outcome.errors)} errors, first {outcome.errors[:3]}")


def measure(ctx: BenchContext) -> list[Figure]:
    """Round trips with 1 and 100 clients, Huddle beside the floor."""
    figures: list[Figure] = []
    durable: list[Figure] = []
    with systems(ctx, 100) as run, worker_pool(4) as pool:
        for system in run.names:  # warm-up
            run.drive(pool, system, 1, processes=1, commands=20, duration_s=5)
        for clients, processes, rounds, commands in plan(ctx.quick):
            outcomes = {system: Outcome() for system in run.names}
            # The systems take turns, a round each, so a slow spell of a shared machine falls
            # on all of them rather than on one: the ratios are what the report is about.
            for n in range(rounds):
                for system in run.names:
                    print(
                        f"  roundtrip: {system}, {clients} client(s), round {n + 1}/{rounds}, "
                        f"{commands} commands each"
                    )
                    outcomes[system].merge(
                        run.drive(
                            pool,
                            system,
                            clients,
                            processes=processes,
                            commands=commands,
                            duration_s=5.0 if ctx.quick else 20.0,
                        )
                    )
            for system, outcome in outcomes.items():
                for point, values in (("received", outcome.received), ("result", outcome.results)):
                    ctx.samples[f"roundtrip/{system}/{point}/{clients}"] = [
                        1000 * v for v in values
                    ]
            figures += _figures(clients, outcomes["huddle"], outcomes["floor"])
            durable.extend(
                _figures(
                    clients, outcomes["huddle"], outcomes["durable"], group=DURABLE, targets=False
                )
            )
    return figures + durable


def plan(quick: bool) -> list[tuple[int, int, int, int]]:
    """(clients, worker processes, rounds, commands per client per round) of each case."""
    if quick:
        return [(1, 1, 1, 100), (100, 4, 1, 5)]
    return [(1, 1, 5, 200), (100, 4, 3, 10)]
