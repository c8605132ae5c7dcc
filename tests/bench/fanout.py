"""Fan-out of one chat event to 1,000 and 10,000 sockets: Huddle, the bare floor, the peer.

For each system the same client processes (`tests.bench.swarm`) hold the sockets. Each round
one event carrying the marker `bench-r<n>-` is sent, and the time from just before the send
to its arrival at the last socket is taken (one CLOCK_MONOTONIC for every process).
- Huddle: the local stack, one gateway; every socket authenticated and joined to one channel.
  Two senders, alternating by size: the event appended and published by the same Lua script
  the sync service runs (from the Redis publish, where the floor's and the peer's start: the
  figures with targets), and a chat `message` posted by an extra socket of the demo user (the
  whole chat path: ws → gateway → RabbitMQ → orchestrator → RabbitMQ → sync → Redis →
  gateway → ws; shown beside, no target).
- Floor: a bare `websockets` server that `broadcast()`s what arrives on a Redis pub/sub channel;
  the event is published there (the same last hop as Huddle's, without the command path).
- Peer: python-socketio `AsyncServer` + `AsyncRedisManager`, clients in one room; the event
  is emitted through a write-only `AsyncRedisManager`, as another service of the original
  design would. Clients speak raw engine.io v4 over a WebSocket (`42[...]` frames).

Usage: `python -m tests.bench.fanout [--quick]`.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as redis
import websockets

from services.common.contracts import channel_topic
from services.common.fanout_redis import RedisFanout
from services.common.history_redis import RedisHistory
from services.common.jsonutil import server_frame
from services.common.topology import Topology
from tests.bench.figures import BenchContext, Figure, Target
from tests.bench.huddle_stack import bench_room
from tests.bench.sio_peer import writer
from tests.bench.swarm import Kind, Workers, server
from tests.processes import free_port

Send = Callable[[int], Awaitable[int]]  # sends round n, returns the monotonic ns of the send
GROUP = "Fan-out of one event"
PUBLISHED, CHAT = "published", "chat"  # Huddle's two senders: from the Redis publish, from a post
METHOD = (
    "One ~250-byte chat event per round to N sockets held by separate client processes (raw "
    "frame readers); time from just before the send to its arrival at the last socket "
    "(CLOCK_MONOTONIC, shared by all processes); p50 and worst over the rounds, deliveries/s "
    "= N / p50. Huddle: the local stack, one gateway, every socket authenticated and joined to "
    "one channel; the event appended to the channel's history and published by the sync "
    "service's own Lua script (the figures with targets start there, at the Redis publish, as "
    "the floor's and the peer's do), and, shown beside, a chat `message` posted by another "
    "socket, timed through the whole chat path. Floor: a bare `websockets` server "
    "doing `broadcast()` of what it receives on a Redis pub/sub channel. Peer: python-socketio "
    "AsyncServer (aiohttp, uvloop) with AsyncRedisManager, clients in one room, the event "
    "emitted through a write-only AsyncRedisManager; clients speak raw engine.io v4."
)

# Opening and joining the sockets of the large size; a system that cannot is reported as such.
SETUP_S = 300.0


@dataclass(frozen=True)
class Scale:
    """How many sockets, held by how many client processes, measured over how many rounds."""

    sockets: int
    processes: int
    rounds: int


def scales(quick: bool) -> tuple[Scale, Scale]:
    """The two sizes of the issue (1,000 and 10,000 sockets), or small ones for a smoke run."""
    if quick:
        return Scale(100, 2, 5), Scale(300, 2, 3)
    return Scale(1000, 4, 20), Scale(10_000, 9, 10)


def event_body(round_no: int) -> dict[str, object]:
    """The data of a chat event like Huddle's (about 200 bytes once framed)."""
    return {
        "id": uuid.uuid4().hex,
        "project_id": "bench-room",
        "channel": "general",
        "user": {"id": "u-0123456789ab", "username": "demo", "roles": ["admin", "member"]},
        "text": f"bench-r{round_no}-",
        "ts": time.time(),
    }


def floor_frame(round_no: int) -> str:
    """The event as the bare server sends it: Huddle's frame shape, same size."""
    frame = {"event": "message", "data": event_body(round_no), "topic": "channel:bench-room/g"}
    return json.dumps(frame | {"seq": round_no, "epoch": "0123456789ab"}, separators=(",", ":"))


@dataclass
class Series:
    """Time to the last socket of each round, in milliseconds (None: a round did not arrive)."""

    sockets: int
    times_ms: list[float]
    lost_rounds: int = 0
    failed: str = ""  # why it was not measured at all

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms) if self.times_ms else float("nan")

    @property
    def worst(self) -> float:
        return max(self.times_ms) if self.times_ms else float("nan")

    @property
    def per_second(self) -> float:
        """Deliveries per second at the median round."""
        return self.sockets / (self.p50 / 1000) if self.times_ms else 0.0


async def _rounds(workers: Workers, scale: Scale, send: Send, first: int) -> Series:
    series = Series(workers.size, [])
    for n in range(first, first + scale.rounds):
        sent = await send(n)
        last = await asyncio.to_thread(workers.wait_round, n, 30 + scale.sockets / 200)
        if last is None:
            series.lost_rounds += 1
        else:
            series.times_ms.append((last - sent) / 1e6)
        await asyncio.sleep(0.05)  # spacing between rounds, not a synchronisation
    return series


def _grow(
    kind: Kind,
    url: str,
    small: Scale,
    large: Scale,
    senders: dict[str, Callable[[], Send]],
    **kw: str,
) -> dict[str, tuple[Series, Series]]:
    """Measure each sender at the small size, add sockets up to the large size, measure again."""
    tokens = kw.get("tokens", "").split(",") if kw.get("tokens") else []
    join = kw.get("join", "")
    first = Workers(kind, url, small.sockets, small.processes, tokens, join)
    more: Workers | None = None
    try:
        first.wait_ready()

        async def both() -> dict[str, tuple[Series, Series]]:
            nonlocal more
            sends = {name: factory() for name, factory in senders.items()}
            # Round numbers are the markers: each sender and size has a range of its own.
            smalls = {
                name: await _rounds(first, small, send, 1 + 100 * i)
                for i, (name, send) in enumerate(sends.items())
            }
            more = Workers(kind, url, large.sockets - small.sockets, large.processes, tokens, join)
            try:
                await asyncio.to_thread(more.wait_ready, SETUP_S)
            except (TimeoutError, RuntimeError):  # too slow, or a socket gave up waiting
                failed = f"not set up in {SETUP_S:.0f} s"
                return {
                    name: (a, Series(large.sockets, [], large.rounds, failed))
                    for name, a in smalls.items()
                }
            first.extend(more)
            return {
                name: (smalls[name], await _rounds(first, large, send, 1000 + 100 * i))
                for i, (name, send) in enumerate(sends.items())
            }

        return asyncio.run(both())
    finally:
        first.close()
        if more is not None:
            more.close()


def _huddle(ctx: BenchContext, small: Scale, large: Scale) -> dict[str, tuple[Series, Series]]:
    with bench_room(ctx, "fanout", large.sockets) as room:
        ws: websockets.ClientConnection | None = None

        def chat() -> Send:
            async def send(n: int) -> int:
                nonlocal ws
                if ws is None:
                    ws = await websockets.connect(room.stack.ws_url, compression=None)
                    await ws.send(json.dumps({"event": "auth", "data": {"token": room.demo_token}}))
                    await ws.recv()  # connected
                frame = {
                    "event": "message",
                    "data": {"project_id": room.project_id, "channel": room.channel},
                }
                frame["data"]["text"] = f"bench-r{n}-"  # type: ignore[index]
                raw = json.dumps(frame)
                sent = time.monotonic_ns()
                await ws.send(raw)
                return sent

            return send

        def published() -> Send:
            # What the sync service does with a domain event: one script appends the frame to
            # the channel's history and publishes it with its position.
            client = redis.Redis.from_url(room.stack.redis_url)
            topology = Topology(room.stack.namespace)
            history, fanout = RedisHistory(client, topology), RedisFanout(client, topology)
            topic = channel_topic(room.project_id, room.channel)

            async def send(n: int) -> int:
                body = event_body(n)
                frame = server_frame("message", body)
                sent = time.monotonic_ns()
                await history.append_and_fan_out(topic, str(body["id"]), frame, fanout)
                return sent

            return send

        return _grow(
            "huddle",
            room.stack.ws_url,
            small,
            large,
            {PUBLISHED: published, CHAT: chat},
            tokens=",".join(room.tokens),
            join=room.join,
        )


def _floor(ctx: BenchContext, small: Scale, large: Scale) -> tuple[Series, Series]:
    port, channel = free_port(), f"bench-floor-{uuid.uuid4().hex}"
    url = ctx.backends.redis_url
    with server("tests.bench.bare_server", str(port), url, channel):

        def factory() -> Send:
            client = redis.Redis.from_url(url)

            async def send(n: int) -> int:
                payload = floor_frame(n)
                sent = time.monotonic_ns()
                await client.publish(channel, payload)
                return sent

            return send

        return _grow("bare", f"ws://127.0.0.1:{port}/", small, large, {PUBLISHED: factory})[
            PUBLISHED
        ]


def _peer(ctx: BenchContext, small: Scale, large: Scale) -> tuple[Series, Series]:
    port, channel = free_port(), f"bench-sio-{uuid.uuid4().hex}"
    url = ctx.backends.redis_url
    with server("tests.bench.sio_peer", str(port), url, channel):

        def factory() -> Send:
            manager = writer(url, channel)

            async def send(n: int) -> int:
                body = event_body(n)
                sent = time.monotonic_ns()
                await manager.emit("message", body, room="bench", namespace="/")
                return sent

            return send

        return _grow("sio", f"ws://127.0.0.1:{port}/", small, large, {PUBLISHED: factory})[
            PUBLISHED
        ]


def figures_of(
    huddle: dict[str, tuple[Series, Series]],
    floor: tuple[Series, Series],
    peer: tuple[Series, Series],
) -> list[Figure]:
    """The report's figures: p50 and worst to the last socket, deliveries per second.

    Huddle's figures with targets start at the Redis publish, as the floor's and the peer's
    do; the chat-path figure (from the client's `message` frame) is shown beside, no target.
    """
    out: list[Figure] = []
    for i in (0, 1):
        h, c, f, p = huddle[PUBLISHED][i], huddle[CHAT][i], floor[i], peer[i]
        size = f"{h.sockets:,} sockets"
        lost = h.lost_rounds + c.lost_rounds + f.lost_rounds + p.lost_rounds
        note = f"{len(h.times_ms)} rounds" + (f"; {lost} rounds did not reach all" if lost else "")
        note += "".join(
            f"; {who}: {s.failed}" for who, s in (("Huddle", h), ("peer", p)) if s.failed
        )
        targeted = i == 0
        out.append(
            Figure(
                GROUP,
                f"{size}, p50 to the last client",
                "ms",
                h.p50,
                f.p50,
                p.p50,
                target=Target("floor", 1.5, "at most 1.5 times the bare websockets broadcast")
                if targeted
                else None,
                note=note,
            )
        )
        if targeted:
            out.append(
                Figure(
                    GROUP,
                    f"{size}, p50 to the last client, against python-socketio",
                    "ms",
                    h.p50,
                    f.p50,
                    p.p50,
                    target=Target("peer", 0.4, "at least 2.5 times faster than python-socketio"),
                    note=note,
                )
            )
        out.append(
            Figure(GROUP, f"{size}, worst to the last client", "ms", h.worst, f.worst, p.worst)
        )
        out.append(
            Figure(
                GROUP,
                f"{size}, deliveries per second",
                "deliveries/s",
                h.per_second,
                f.per_second,
                p.per_second,
                better="higher",
            )
        )
        out.append(
            Figure(
                GROUP,
                f"{size}, p50 to the last client from a chat message (the whole chat path)",
                "ms",
                c.p50,
                f.p50,
                p.p50,
                note="from the poster's `message` frame: adds the command path (gateway, "
                "RabbitMQ, orchestrator, RabbitMQ, sync) to the fan-out; no target",
            )
        )
    return out


def measure(ctx: BenchContext) -> list[Figure]:
    """Fan-out to 1,000 and 10,000 sockets (100 and 300 when quick) for the three systems."""
    small, large = scales(ctx.quick)
    huddle = _huddle(ctx, small, large)
    floor = _floor(ctx, small, large)
    peer = _peer(ctx, small, large)
    systems = {"huddle": huddle[PUBLISHED], "huddle (chat path)": huddle[CHAT]}
    for name, pair in {**systems, "floor": floor, "peer": peer}.items():
        for one in pair:
            ctx.samples[f"fanout/{name}/{one.sockets} sockets"] = one.times_ms
    return figures_of(huddle, floor, peer)


if __name__ == "__main__":
    from tests.bench.standalone import run_alone

    run_alone(measure)
