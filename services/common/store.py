"""Entity store with versioned compare-and-set: the protocol and the in-process implementation.

A `commit` writes several entities at once, each only if its version is the expected one, and
records an idempotency token (a command id) with an outcome in the same step, so a redelivered
command neither applies twice nor loses the answer it produced the first time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Entity:
    """A stored entity: its state and the version it had when read (1 for the first write)."""

    kind: str
    key: str
    version: int
    state: dict[str, Any]


@dataclass(frozen=True)
class Write:
    """Put `state` for (kind, key) if the stored version is `expected_version` (0: absent)."""

    kind: str
    key: str
    state: dict[str, Any]
    expected_version: int
    ttl_s: int | None = None


class VersionConflict(Exception):
    """An entity changed since it was read."""

    def __init__(self, kind: str, key: str, expected: int, actual: int) -> None:
        super().__init__(f"{kind}:{key} is at version {actual}, expected {expected}")
        self.kind, self.key, self.expected, self.actual = kind, key, expected, actual


class AlreadyProcessed(Exception):
    """The idempotency token was committed before; `outcome` is what that commit recorded."""

    def __init__(self, outcome: bytes) -> None:
        super().__init__("already processed")
        self.outcome = outcome


class Store(Protocol):
    """Entities by kind and key, with compare-and-set and idempotent multi-entity commits."""

    async def get(self, kind: str, key: str) -> Entity | None:
        """The entity, or None."""
        ...

    async def get_many(self, kind: str, keys: Sequence[str]) -> list[Entity | None]:
        """The entities of these keys, in their order (None where missing), in one read."""
        ...

    async def keys(self, kind: str) -> list[str]:
        """Every key of a kind, sorted."""
        ...

    async def all(self, kind: str) -> list[Entity]:
        """Every entity of a kind, sorted by key (`keys` and `get` in one read)."""
        ...

    async def commit(
        self,
        writes: Sequence[Write],
        *,
        token: str | None = None,
        outcome: bytes = b"",
        token_ttl_s: int = 86_400,
    ) -> list[int]:
        """Apply every write or none; return the new versions.

        Raises `VersionConflict`, or `AlreadyProcessed` when `token` was committed before.
        """
        ...

    async def delete(self, kind: str, key: str) -> None:
        """Remove an entity."""
        ...

    async def outcome(self, token: str) -> bytes | None:
        """What the commit with this idempotency token recorded, or None if there was none."""
        ...

    async def ping(self) -> None:
        """Raise if the store is not reachable."""
        ...


class MemoryStore:
    """The store in process memory: commits are atomic because they never await."""

    def __init__(self) -> None:
        self._entities: dict[tuple[str, str], tuple[int, dict[str, Any], float | None]] = {}
        self._tokens: dict[str, tuple[bytes, float]] = {}

    def _live(self, kind: str, key: str) -> tuple[int, dict[str, Any], float | None] | None:
        item = self._entities.get((kind, key))
        if item is not None and item[2] is not None and item[2] <= time.monotonic():
            del self._entities[(kind, key)]
            return None
        return item

    async def get(self, kind: str, key: str) -> Entity | None:
        item = self._live(kind, key)
        return None if item is None else Entity(kind, key, item[0], item[1])

    async def get_many(self, kind: str, keys: Sequence[str]) -> list[Entity | None]:
        return [await self.get(kind, key) for key in keys]

    async def keys(self, kind: str) -> list[str]:
        return sorted(k for (c, k) in list(self._entities) if c == kind and self._live(c, k))

    async def all(self, kind: str) -> list[Entity]:
        found = [await self.get(kind, key) for key in await self.keys(kind)]
        return [entity for entity in found if entity is not None]

    async def commit(
        self,
        writes: Sequence[Write],
        *,
        token: str | None = None,
        outcome: bytes = b"",
        token_ttl_s: int = 86_400,
    ) -> list[int]:
        now = time.monotonic()
        if token is not None:
            recorded = self._tokens.get(token)
            if recorded is not None and recorded[1] > now:
                raise AlreadyProcessed(recorded[0])
        for write in writes:
            item = self._live(write.kind, write.key)
            actual = 0 if item is None else item[0]
            if actual != write.expected_version:
                raise VersionConflict(write.kind, write.key, write.expected_version, actual)
        versions = []
        for write in writes:
            version = write.expected_version + 1
            expiry = None if write.ttl_s is None else now + write.ttl_s
            self._entities[(write.kind, write.key)] = (version, dict(write.state), expiry)
            versions.append(version)
        if token is not None:
            self._tokens[token] = (outcome, now + token_ttl_s)
        return versions

    async def delete(self, kind: str, key: str) -> None:
        self._entities.pop((kind, key), None)

    async def outcome(self, token: str) -> bytes | None:
        recorded = self._tokens.get(token)
        return recorded[0] if recorded is not None and recorded[1] > time.monotonic() else None

    async def ping(self) -> None:
        return None
