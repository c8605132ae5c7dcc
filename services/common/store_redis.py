"""The entity store on Redis hashes (`version`, `state`), with a Lua compare-and-set commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis

from .store import AlreadyProcessed, Entity, VersionConflict, Write
from .topology import Topology

# KEYS: token, then n entity keys, then n index keys.
# ARGV: has_token, outcome, token_ttl, n, then per write: expected, state, key, ttl ('' = none).
_COMMIT = """
if ARGV[1] == '1' then
  local recorded = redis.call('GET', KEYS[1])
  if recorded then return {'processed', recorded} end
end
local n = tonumber(ARGV[4])
for i = 1, n do
  local actual = tonumber(redis.call('HGET', KEYS[1 + i], 'version') or '0')
  local expected = tonumber(ARGV[1 + 4 * i])
  if actual ~= expected then return {'conflict', i, actual} end
end
local versions = {'ok'}
for i = 1, n do
  local version = tonumber(ARGV[1 + 4 * i]) + 1
  local key = KEYS[1 + i]
  redis.call('HSET', key, 'version', version, 'state', ARGV[2 + 4 * i])
  local ttl = ARGV[4 + 4 * i]
  if ttl ~= '' then
    redis.call('EXPIRE', key, ttl)
  else
    redis.call('PERSIST', key)
    redis.call('SADD', KEYS[1 + n + i], ARGV[3 + 4 * i])
  end
  versions[#versions + 1] = version
end
if ARGV[1] == '1' then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
return versions
"""

# KEYS: the kind's index. ARGV: the prefix of the kind's entity keys. Returns key, version,
# state for each indexed entity that exists: the index and every entity in one round trip.
# (The entity keys are derived in the script: fine on one Redis, not on a cluster.)
_ALL = """
local out = {}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local found = redis.call('HMGET', ARGV[1] .. key, 'version', 'state')
  if found[1] then
    out[#out + 1] = key
    out[#out + 1] = found[1]
    out[#out + 1] = found[2]
  end
end
return out
"""


class RedisStore:
    """`Store` on Redis."""

    def __init__(self, redis: Redis, topology: Topology) -> None:
        self._redis = redis
        self._topology = topology
        self._commit = redis.register_script(_COMMIT)
        self._all = redis.register_script(_ALL)

    def _entity_key(self, kind: str, key: str) -> str:
        return self._topology.key("entity", kind, key)

    async def get(self, kind: str, key: str) -> Entity | None:
        reply: Any = await self._redis.hmget(self._entity_key(kind, key), ["version", "state"])
        version, state = reply
        if version is None:
            return None
        return Entity(kind, key, int(version), orjson.loads(state))

    async def get_many(self, kind: str, keys: Sequence[str]) -> list[Entity | None]:
        if not keys:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(self._entity_key(kind, key), ["version", "state"])
            replies: list[Any] = await pipe.execute()
        return [
            None if version is None else Entity(kind, key, int(version), orjson.loads(state))
            for key, (version, state) in zip(keys, replies, strict=True)
        ]

    async def keys(self, kind: str) -> list[str]:
        members: Any = await self._redis.smembers(self._topology.key("index", kind))
        return sorted(member.decode() for member in members)

    async def all(self, kind: str) -> list[Entity]:
        flat: Any = await self._all(
            keys=[self._topology.key("index", kind)], args=[self._entity_key(kind, "")]
        )
        found = [
            Entity(kind, flat[i].decode(), int(flat[i + 1]), orjson.loads(flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]
        return sorted(found, key=lambda entity: entity.key)

    async def commit(
        self,
        writes: Sequence[Write],
        *,
        token: str | None = None,
        outcome: bytes = b"",
        token_ttl_s: int = 86_400,
    ) -> list[int]:
        t = self._topology
        keys = [t.key("processed", token or "-")]
        keys += [self._entity_key(w.kind, w.key) for w in writes]
        keys += [t.key("index", w.kind) for w in writes]
        args: list[Any] = ["1" if token else "0", outcome, token_ttl_s, len(writes)]
        for w in writes:
            ttl = "" if w.ttl_s is None else w.ttl_s
            args += [w.expected_version, orjson.dumps(w.state), w.key, ttl]
        reply = await self._commit(keys=keys, args=args)
        status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
        if status == "processed":
            raise AlreadyProcessed(reply[1])
        if status == "conflict":
            write = writes[int(reply[1]) - 1]
            raise VersionConflict(write.kind, write.key, write.expected_version, int(reply[2]))
        return [int(v) for v in reply[1:]]

    async def delete(self, kind: str, key: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._entity_key(kind, key))
            pipe.srem(self._topology.key("index", kind), key)
            await pipe.execute()

    async def outcome(self, token: str) -> bytes | None:
        recorded: Any = await self._redis.get(self._topology.key("processed", token))
        return None if recorded is None else bytes(recorded)

    async def ping(self) -> None:
        await self._redis.ping()
