"""Resume of 1,000 missed events: from the `resume` frame to the last replayed event.

Huddle: a client joins a channel, notes its position and goes away; another posts 1,000 chat
messages (and sees the last one stored); then a new socket authenticates and sends `resume`
with the old position. Timed from just before the `resume` frame is sent to the arrival of the
last replayed event; every run checks that all 1,000 arrived once, in order, before `resumed`.
The resume is read-only, so it is repeated from the same position on fresh sockets.
Floor: the same 1,000 frames in a Redis stream, read with one XRANGE by a bare `websockets`
server (`tests.bench.bare_server`) and sent one frame each over the socket.

Usage: `python -m tests.bench.resume [--quick]`.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import redis.asyncio as redis
import websockets

from tests.bench.figures import BenchContext, Figure
from tests.bench.huddle_stack import Room, bench_room
from tests.bench.swarm import server
from tests.client import Client
from tests.processes import free_port

GROUP = "Resume"
METHOD = (
    "A client joins a channel and leaves; 1,000 chat messages are posted; a fresh socket "
    "authenticates and sends `resume` with the old position. Time from just before the resume "
    "frame to the last replayed event (checked: all 1,000, once each, in order, before "
    "`resumed`); repeated from the same position. Floor: the very same 1,000 frames in a "
    "Redis stream, one XRANGE on a bare `websockets` server, one frame each."
)

MISSED = 1000


async def _post_missed(room: Room) -> tuple[str, dict[str, Any]]:
    """Join, note the position, post MISSED messages; the topic and the position to resume."""
    poster = await Client.connect(room.stack.ws_url, room.demo_token)
    try:
        ref = await poster.send(
            "join_channel", {"project_id": room.project_id, "channel": room.channel}
        )
        joined = await poster.wait_for(lambda f: f.get("ref") == ref)
        topic, position = next(
            (t, p) for t, p in joined["data"]["positions"].items() if t.startswith("channel:")
        )
        for i in range(MISSED):
            data = {"project_id": room.project_id, "channel": room.channel, "text": f"missed-{i}"}
            await poster.send("message", data)
        last = f"missed-{MISSED - 1}"
        await poster.wait_for(
            lambda f: f["event"] == "message" and f["data"]["text"] == last, within_s=120
        )
    finally:
        await poster.close()
    return topic, position


async def _resume_once(
    room: Room, topic: str, position: dict[str, Any]
) -> tuple[float, list[bytes]]:
    """Milliseconds from `resume` to the last replayed event, and the replayed frames."""
    token = room.tokens[0]
    async with websockets.connect(room.stack.ws_url, compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
        await ws.recv()  # connected
        frame = {"event": "resume", "id": "r", "data": {"positions": {topic: position}}}
        raw = json.dumps(frame)
        arrivals: list[tuple[int, bytes]] = []
        started = time.monotonic_ns()
        await ws.send(raw)
        while True:
            message = await asyncio.wait_for(ws.recv(decode=False), 60)
            now = time.monotonic_ns()
            if message.startswith(b'{"event":"resumed"'):
                break
            arrivals.append((now, message))
    replayed = [m for _, m in arrivals if m.startswith(b'{"event":"message"')]
    last = max(t for t, m in arrivals if m.startswith(b'{"event":"message"'))
    _check(replayed, position["seq"])
    return (last - started) / 1e6, replayed


def _check(replayed: list[bytes], after_seq: int) -> None:
    """All MISSED events, once each, in order."""
    frames = [json.loads(m) for m in replayed]
    seqs = [f["seq"] for f in frames]
    texts = [f["data"]["text"] for f in frames]
    expected = list(range(after_seq + 1, after_seq + MISSED + 1))
    if seqs != expected or texts != [f"missed-{i}" for i in range(MISSED)]:
        raise AssertionError(f"resume replayed {len(frames)} events, not {MISSED} in order")


async def _floor_once(url: str, key: str) -> float:
    """Milliseconds from the request to the last entry, over a bare socket."""
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        received: list[tuple[int, bytes]] = []
        started = time.monotonic_ns()
        await ws.send(f"replay {key}")
        while True:
            message = await asyncio.wait_for(ws.recv(decode=False), 60)
            now = time.monotonic_ns()
            if message == b"done":
                break
            received.append((now, message))
    if len(received) != MISSED:
        raise AssertionError(f"the floor replayed {len(received)} entries, not {MISSED}")
    return (received[-1][0] - started) / 1e6


def measure(ctx: BenchContext) -> list[Figure]:
    """Resume of 1,000 missed events: p50 and worst over several runs, Huddle and the floor."""
    runs = 3 if ctx.quick else 10
    with bench_room(ctx, "resume", 1) as room:

        async def huddle_runs() -> tuple[list[float], list[bytes]]:
            topic, position = await _post_missed(room)
            times: list[float] = []
            frames: list[bytes] = []
            for _ in range(runs):
                took, frames = await _resume_once(room, topic, position)
                times.append(took)
            return times, frames

        huddle, frames = asyncio.run(huddle_runs())

    key, channel = f"bench-resume-{uuid.uuid4().hex}", f"bench-resume-{uuid.uuid4().hex}"
    port = free_port()

    async def floor_runs() -> list[float]:
        client = redis.Redis.from_url(ctx.backends.redis_url)
        try:
            async with client.pipeline(transaction=False) as pipe:
                for body in frames:  # the very frames Huddle replayed
                    pipe.xadd(key, {"b": body})
                await pipe.execute()
            return [await _floor_once(f"ws://127.0.0.1:{port}/", key) for _ in range(runs)]
        finally:
            await client.delete(key)
            await client.aclose()

    with server("tests.bench.bare_server", str(port), ctx.backends.redis_url, channel):
        floor = asyncio.run(floor_runs())
    ctx.samples["resume huddle"] = huddle
    ctx.samples["resume floor"] = floor
    note = f"{runs} runs; all {MISSED} events arrived once and in order in every run"
    return [
        Figure(
            GROUP,
            f"{MISSED:,} missed events, resume → last event, p50",
            "ms",
            statistics.median(huddle),
            statistics.median(floor),
            note=note,
        ),
        Figure(
            GROUP,
            f"{MISSED:,} missed events, resume → last event, worst",
            "ms",
            max(huddle),
            max(floor),
        ),
    ]


if __name__ == "__main__":
    from tests.bench.standalone import run_alone

    run_alone(measure)
