"""Which sockets each user has open, across every gateway: for the per-user connection limit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis

from .topology import Topology


class Sessions(Protocol):
    """Open sockets per user; a gateway that stops heart-beating stops counting."""

    async def open(self, user_id: str, session_id: str, gateway_id: str, limit: int) -> list[str]:
        """Register a socket; return the sessions to close (the oldest over `limit`)."""
        ...

    async def close(self, user_id: str, session_id: str, gateway_id: str) -> None:
        """Forget a socket."""
        ...

    async def heartbeat(self, gateway_id: str, ttl_s: float) -> None:
        """Say this gateway is alive for `ttl_s` more seconds."""
        ...

    async def census(self) -> dict[str, int]:
        """Open sockets per live gateway, gateways without sockets included."""
        ...


class MemorySessions:
    """`Sessions` inside one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._open: dict[str, dict[str, tuple[float, str]]] = {}  # user → session → (at, gateway)
        self._alive_until: dict[str, float] = {}

    def _alive(self, gateway_id: str, now: float) -> bool:
        return self._alive_until.get(gateway_id, 0.0) > now

    async def open(self, user_id: str, session_id: str, gateway_id: str, limit: int) -> list[str]:
        now = self._clock()
        sockets = self._open.setdefault(user_id, {})
        sockets[session_id] = (now, gateway_id)
        for session, (_, gateway) in list(sockets.items()):
            if gateway != gateway_id and not self._alive(gateway, now):
                del sockets[session]  # its gateway died: the socket is gone
        oldest = sorted(sockets, key=lambda session: sockets[session][0])
        evicted = oldest[: max(0, len(oldest) - limit)]
        for session in evicted:
            del sockets[session]
        return evicted

    async def close(self, user_id: str, session_id: str, gateway_id: str) -> None:
        sockets = self._open.get(user_id, {})
        if sockets.get(session_id, (0.0, ""))[1] == gateway_id:
            del sockets[session_id]

    async def heartbeat(self, gateway_id: str, ttl_s: float) -> None:
        self._alive_until[gateway_id] = self._clock() + ttl_s

    async def census(self) -> dict[str, int]:
        now = self._clock()
        counts = {gateway: 0 for gateway in self._alive_until if self._alive(gateway, now)}
        for sockets in self._open.values():
            for _, gateway in sockets.values():
                if gateway in counts:
                    counts[gateway] += 1
        return counts


# Every script reads the time from Redis, so gateways whose clocks disagree still agree on who
# is alive. Members of a user's set are "<gateway>|<session>", scored by connect time (µs:
# sockets opened in the same millisecond must still leave oldest first).
_NOW = """
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = math.floor(now_us / 1000)
"""

# KEYS: the user's sessions, live gateways (scored by when their heartbeat runs out), sockets
# per gateway (a hash kept in step with every set, so a census never reads the sets).
# ARGV: member, limit, gateway. Returns the members evicted over the limit, oldest first.
_OPEN = (
    _NOW
    + """
if redis.call('ZADD', KEYS[1], now_us, ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
end
local function gateway_of(member)
  return string.sub(member, 1, string.find(member, '|', 1, true) - 1)
end
-- known: still listed among the gateways (alive, or dead for less than the census forgets);
-- a forgotten gateway has no count left to take a socket off.
local alive, known = {[ARGV[3]] = true}, {[ARGV[3]] = true}
local live, gone, evicted = {}, {}, {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local gateway = gateway_of(member)
  if alive[gateway] == nil then
    local until_ms = redis.call('ZSCORE', KEYS[2], gateway)
    known[gateway] = until_ms ~= false
    alive[gateway] = known[gateway] and tonumber(until_ms) > now
  end
  if alive[gateway] then live[#live + 1] = member else gone[#gone + 1] = member end
end
for i = 1, #live - tonumber(ARGV[2]) do
  gone[#gone + 1] = live[i]
  evicted[#evicted + 1] = live[i]
end
for _, member in ipairs(gone) do
  if redis.call('ZREM', KEYS[1], member) == 1 and known[gateway_of(member)] then
    redis.call('HINCRBY', KEYS[3], gateway_of(member), -1)
  end
end
return evicted
"""
)

# KEYS: the user's sessions, sockets per gateway. ARGV: member, gateway.
_CLOSE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
end
"""

# KEYS: live gateways. ARGV: gateway, ttl (ms).
_HEARTBEAT = _NOW + "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"

# KEYS: live gateways, sockets per gateway. ARGV: how long a dead gateway is remembered (ms).
# Returns gateway, count, gateway, count, ... of the live ones. A gateway stays listed for a
# while after it stopped beating, so one that was only late comes back with its count.
_CENSUS = (
    _NOW
    + """
local forgotten = now - tonumber(ARGV[1])
for _, gateway in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', forgotten)) do
  redis.call('HDEL', KEYS[2], gateway)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', forgotten)
local out = {}
for _, gateway in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  out[#out + 1] = gateway
  out[#out + 1] = redis.call('HGET', KEYS[2], gateway) or '0'
end
return out
"""
)

# How long the census keeps a gateway that stopped beating (and its count), so one that was
# only late comes back with its sockets counted.
DEAD_GATEWAY_MEMORY_S = 86_400.0


class RedisSessions:
    """`Sessions` on Redis: a sorted set per user, live gateways, and sockets per gateway.

    Every change is one script, so the per-gateway counts move with the sets and a census is
    O(gateways), whatever the number of users or of other keys in Redis.
    """

    def __init__(
        self, redis: Redis, topology: Topology, *, forget_after_s: float = DEAD_GATEWAY_MEMORY_S
    ) -> None:
        self._redis = redis
        self._topology = topology
        self._forget_after_ms = int(forget_after_s * 1000)
        self._gateways = topology.key("gateways")
        self._counts = topology.key("gateway-sockets")
        self._open = redis.register_script(_OPEN)
        self._close = redis.register_script(_CLOSE)
        self._heartbeat = redis.register_script(_HEARTBEAT)
        self._census = redis.register_script(_CENSUS)

    def _user_key(self, user_id: str) -> str:
        return self._topology.key("sessions", user_id)

    async def open(self, user_id: str, session_id: str, gateway_id: str, limit: int) -> list[str]:
        keys = [self._user_key(user_id), self._gateways, self._counts]
        evicted: Any = await self._open(
            keys=keys, args=[f"{gateway_id}|{session_id}", limit, gateway_id]
        )
        return [member.decode().split("|", 1)[1] for member in evicted]

    async def close(self, user_id: str, session_id: str, gateway_id: str) -> None:
        keys = [self._user_key(user_id), self._counts]
        await self._close(keys=keys, args=[f"{gateway_id}|{session_id}", gateway_id])

    async def heartbeat(self, gateway_id: str, ttl_s: float) -> None:
        await self._heartbeat(keys=[self._gateways], args=[gateway_id, int(ttl_s * 1000)])

    async def census(self) -> dict[str, int]:
        keys = [self._gateways, self._counts]
        flat: Any = await self._census(keys=keys, args=[self._forget_after_ms])
        return {flat[i].decode(): max(0, int(flat[i + 1])) for i in range(0, len(flat), 2)}
