"""History on Redis Streams: entry id `<seq>-0`, MAXLEN-trimmed, idempotent on event id."""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from .contracts import Position
from .fanout import Fanout
from .fanout_redis import RedisFanout
from .history import Entry, append_then_publish, new_epoch
from .topology import Topology

# KEYS: stream, seq counter, epoch, recent event ids (a sorted set by seq), then optionally
# the fan-out channel. ARGV: frame, new epoch, maxlen, event id, then with a channel the topic
# as JSON. The ids kept are as many as the events kept. One script, so the sequence number,
# the entry and the dedupe marker are written together; with a channel the frame is also
# published with its position (as `jsonutil.with_position` writes it), saving a round trip.
_APPEND = """
local seq
local seen = redis.call('ZSCORE', KEYS[4], ARGV[4])
if seen then
  seq = tonumber(seen)
else
  redis.call('SET', KEYS[3], ARGV[2], 'NX')
  seq = redis.call('INCR', KEYS[2])
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'f', ARGV[1])
  redis.call('ZADD', KEYS[4], seq, ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[3]) - 1)
end
local epoch = redis.call('GET', KEYS[3])
if KEYS[5] then
  redis.call('PUBLISH', KEYS[5], string.sub(ARGV[1], 1, -2) .. ',"topic":' .. ARGV[5]
    .. ',"seq":' .. string.format('%d', seq) .. ',"epoch":"' .. epoch .. '"}')
end
return {seq, epoch}
"""

_POSITION = """
redis.call('SET', KEYS[2], ARGV[1], 'NX')
local seq = redis.call('GET', KEYS[1])
return {tonumber(seq or '0'), redis.call('GET', KEYS[2])}
"""


def _entries(raw: Any) -> list[Entry]:
    return [(int(entry_id.split(b"-", 1)[0]), fields[b"f"]) for entry_id, fields in raw]


class RedisHistory:
    """`History` on Redis Streams."""

    def __init__(self, redis: Redis, topology: Topology, *, max_len: int = 10_000) -> None:
        self._redis = redis
        self._topology = topology
        self._max_len = max_len
        self._append = redis.register_script(_APPEND)
        self._position = redis.register_script(_POSITION)

    def _stream(self, topic: str) -> str:
        return self._topology.key("stream", topic)

    async def append(self, topic: str, event_id: str, frame: bytes) -> Position:
        return await self._run_append(topic, event_id, frame, None)

    async def append_and_fan_out(
        self, topic: str, event_id: str, frame: bytes, fanout: Fanout
    ) -> Position:
        if isinstance(fanout, RedisFanout) and fanout.redis is self._redis:
            return await self._run_append(topic, event_id, frame, fanout.channel(topic))
        return await append_then_publish(self, topic, event_id, frame, fanout)

    async def _run_append(
        self, topic: str, event_id: str, frame: bytes, channel: str | None
    ) -> Position:
        t = self._topology
        keys = [self._stream(topic), t.key("seq", topic), t.key("epoch", topic)]
        keys.append(t.key("appended", topic))
        args: list[Any] = [frame, new_epoch(), self._max_len, event_id]
        if channel is not None:
            keys.append(channel)
            args.append(orjson.dumps(topic))
        seq, epoch = await self._append(keys=keys, args=args)
        return Position(seq=int(seq), epoch=epoch.decode())

    async def since(self, topic: str, after_seq: int, limit: int) -> list[Entry]:
        raw = await self._redis.xrange(self._stream(topic), min=f"({after_seq}-0", count=limit)
        return _entries(raw)

    async def latest(self, topic: str, count: int) -> list[Entry]:
        if count <= 0:
            return []
        raw = await self._redis.xrevrange(self._stream(topic), count=count)
        return list(reversed(_entries(raw)))

    async def before(self, topic: str, before_seq: int | None, limit: int) -> list[Entry]:
        if before_seq is not None and before_seq <= 1:
            return []
        high = "+" if before_seq is None else f"({before_seq}-0"
        raw = await self._redis.xrevrange(self._stream(topic), max=high, count=limit)
        return _entries(raw)

    async def position(self, topic: str) -> Position:
        t = self._topology
        seq, epoch = await self._position(
            keys=[t.key("seq", topic), t.key("epoch", topic)], args=[new_epoch()]
        )
        return Position(seq=int(seq), epoch=epoch.decode())

    async def ping(self) -> None:
        await self._redis.ping()
