"""Who is in a channel, across gateways: entries that expire unless their gateway renews them."""

from __future__ import annotations

import time
from typing import Any, Protocol

from redis.asyncio import Redis

from .topology import Topology


class Presence(Protocol):
    """Members per channel; each entry is `<gateway>|<user id>|<username>` with an expiry."""

    async def touch(self, channel: str, members: list[str], ttl_s: float) -> None:
        """Add or renew entries for `ttl_s` seconds."""
        ...

    async def leave(self, channel: str, member: str) -> None:
        """Remove an entry."""
        ...

    async def members(self, channel: str) -> list[str]:
        """The entries that have not expired."""
        ...


class MemoryPresence:
    """`Presence` in one process."""

    def __init__(self) -> None:
        self._channels: dict[str, dict[str, float]] = {}

    async def touch(self, channel: str, members: list[str], ttl_s: float) -> None:
        entries = self._channels.setdefault(channel, {})
        for member in members:
            entries[member] = time.time() + ttl_s

    async def leave(self, channel: str, member: str) -> None:
        self._channels.get(channel, {}).pop(member, None)

    async def members(self, channel: str) -> list[str]:
        now = time.time()
        entries = self._channels.get(channel, {})
        for member in [m for m, expiry in entries.items() if expiry <= now]:
            del entries[member]
        return sorted(entries)


class RedisPresence:
    """`Presence` on Redis: a sorted set per channel scored by expiry time."""

    def __init__(self, redis: Redis, topology: Topology) -> None:
        self._redis = redis
        self._topology = topology

    def _key(self, channel: str) -> str:
        return self._topology.key("presence", channel)

    async def touch(self, channel: str, members: list[str], ttl_s: float) -> None:
        if members:
            expiry = time.time() + ttl_s
            await self._redis.zadd(self._key(channel), dict.fromkeys(members, expiry))

    async def leave(self, channel: str, member: str) -> None:
        await self._redis.zrem(self._key(channel), member)

    async def members(self, channel: str) -> list[str]:
        key = self._key(channel)
        await self._redis.zremrangebyscore(key, "-inf", time.time())
        found: Any = await self._redis.zrange(key, 0, -1)
        return sorted(member.decode() for member in found)
