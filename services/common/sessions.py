"""Which sockets each user has open, across every gateway: for the per-user connection limit."""

from __future__ import annotations

import time
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

    def __init__(self) -> None:
        self._open: dict[str, dict[str, float]] = {}
        self._gateway_of: dict[str, str] = {}
        self._gateways: set[str] = set()

    async def open(self, user_id: str, session_id: str, gateway_id: str, limit: int) -> list[str]:
        sockets = self._open.setdefault(user_id, {})
        sockets[session_id] = time.time()
        self._gateway_of[session_id] = gateway_id
        oldest = sorted(sockets, key=sockets.__getitem__)
        evicted = oldest[: max(0, len(oldest) - limit)]
        for session in evicted:
            del sockets[session]
            self._gateway_of.pop(session, None)
        return evicted

    async def close(self, user_id: str, session_id: str, gateway_id: str) -> None:
        self._open.get(user_id, {}).pop(session_id, None)
        self._gateway_of.pop(session_id, None)

    async def heartbeat(self, gateway_id: str, ttl_s: float) -> None:
        self._gateways.add(gateway_id)

    async def census(self) -> dict[str, int]:
        counts = dict.fromkeys(self._gateways, 0)
        for gateway in self._gateway_of.values():
            counts[gateway] = counts.get(gateway, 0) + 1
        return counts


class RedisSessions:
    """`Sessions` on Redis: a sorted set per user (by connect time), a liveness key per gateway."""

    def __init__(self, redis: Redis, topology: Topology) -> None:
        self._redis = redis
        self._topology = topology

    def _user_key(self, user_id: str) -> str:
        return self._topology.key("sessions", user_id)

    def _gateway_key(self, gateway_id: str) -> str:
        return self._topology.key("gateway", gateway_id)

    async def open(self, user_id: str, session_id: str, gateway_id: str, limit: int) -> list[str]:
        key = self._user_key(user_id)
        await self._redis.zadd(key, {f"{gateway_id}|{session_id}": time.time()})
        members: Any = await self._redis.zrange(key, 0, -1)
        entries = [member.decode().split("|", 1) for member in members]
        gateways = sorted({gateway for gateway, _ in entries} - {gateway_id})
        alive = {gateway_id}
        for gateway in gateways:
            if await self._redis.exists(self._gateway_key(gateway)):
                alive.add(gateway)
        dead = [f"{g}|{s}" for g, s in entries if g not in alive]
        live = [(g, s) for g, s in entries if g in alive]
        evicted = live[: max(0, len(live) - limit)]
        gone = dead + [f"{g}|{s}" for g, s in evicted]
        if gone:
            await self._redis.zrem(key, *gone)
        return [session for _, session in evicted]

    async def close(self, user_id: str, session_id: str, gateway_id: str) -> None:
        await self._redis.zrem(self._user_key(user_id), f"{gateway_id}|{session_id}")

    async def heartbeat(self, gateway_id: str, ttl_s: float) -> None:
        await self._redis.set(self._gateway_key(gateway_id), b"1", px=int(ttl_s * 1000))

    async def census(self) -> dict[str, int]:
        # Scans every user's set: O(users), meant for a sampler every few seconds.
        alive_prefix = self._gateway_key("")
        counts = {
            key.decode()[len(alive_prefix) :]: 0
            async for key in self._redis.scan_iter(match=self._gateway_key("*"), count=500)
        }
        async for key in self._redis.scan_iter(match=self._user_key("*"), count=500):
            members: Any = await self._redis.zrange(key, 0, -1)
            for member in members:
                gateway = member.decode().split("|", 1)[0]
                if gateway in counts:
                    counts[gateway] += 1
        return counts
