"""Memory per idle authenticated connection: the RSS a gateway process grows by, per socket.

Huddle: the local stack with one gateway; `tests.bench.swarm` processes open 10,000 sockets,
each authenticated and joined to a channel (100 projects of one channel each, 100 sockets per
channel), then idle. The gateway's RSS (psutil) after, minus before, over the socket count.
Floor: the same sockets held by a bare `websockets` server (`tests.bench.bare_server`).

Usage: `python -m tests.bench.memory [--quick]`.
"""

from __future__ import annotations

import time
import uuid

import psutil  # type: ignore[import-untyped]

from tests.bench.figures import BenchContext, Figure, Target
from tests.bench.huddle_stack import bench_room
from tests.bench.swarm import Kind, Workers, server
from tests.processes import free_port

GROUP = "Memory"
METHOD = (
    "RSS (psutil) of the one gateway process after 10,000 idle sockets opened by client "
    "processes (each authenticated and joined to one of 100 channels), minus before, divided "
    "by 10,000. Floor: the same sockets on a bare `websockets` server. The 20 KB target is "
    "absolute; its ratio to the floor is derived from it."
)

SOCKETS_PER_CHANNEL = 100  # a join announces presence to its channel: keep each one modest


def _settled_rss(pid: int, within_s: float = 10) -> int:
    """The process's RSS once it stops moving (two readings 1 s apart within 1%)."""
    process = psutil.Process(pid)
    deadline = time.monotonic() + within_s
    last = process.memory_info().rss
    while time.monotonic() < deadline:
        time.sleep(1)  # sampling interval of a measurement, not a synchronisation
        now = process.memory_info().rss
        if abs(now - last) <= last / 100:
            return int(now)
        last = now
    return int(last)


def _grown_by(pid: int, kind: Kind, url: str, sockets: int, tokens: list[str], join: str) -> float:
    """Bytes of RSS per socket that `pid` gained while `sockets` idle sockets were open."""
    before = _settled_rss(pid)
    workers = Workers(kind, url, sockets, max(1, sockets // 1000), tokens, join)
    try:
        opened = workers.wait_ready(900)
        after = _settled_rss(pid)
    finally:
        workers.close()
    return (after - before) / opened


def measure(ctx: BenchContext) -> list[Figure]:
    """RSS per idle connection at 10,000 connections (500 when quick), Huddle and the floor."""
    sockets = 500 if ctx.quick else 10_000
    projects = max(1, sockets // SOCKETS_PER_CHANNEL)
    with bench_room(ctx, "memory", sockets, projects) as room:
        pid = room.stack.processes["gateway"].pid
        huddle = _grown_by(pid, "huddle", room.stack.ws_url, sockets, room.tokens, room.join)
    port = free_port()
    channel = f"bench-memory-{uuid.uuid4().hex}"
    with server("tests.bench.bare_server", str(port), ctx.backends.redis_url, channel) as bare:
        floor = _grown_by(bare.pid, "bare", f"ws://127.0.0.1:{port}/", sockets, [], "")
    return [
        Figure(
            GROUP,
            f"per idle authenticated connection ({sockets:,} on one gateway)",
            "KB",
            huddle / 1024,
            floor / 1024,
            target=Target("floor", 20 * 1024 / max(floor, 1.0), "at most 20 KB each"),
            note=f"RSS delta over {sockets:,} sockets, each joined to one of {projects} channels",
        )
    ]


if __name__ == "__main__":
    from tests.bench.standalone import run_alone

    run_alone(measure)
