"""A unit of work: entities read once, changed in memory, committed together with CAS."""

from __future__ import annotations

import copy
from typing import Any

from services.common.store import Store, Write


class Unit:
    """Reads remember each entity's version; `writes()` turns changes into compare-and-sets."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._versions: dict[tuple[str, str], int] = {}
        self._states: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._changed: dict[tuple[str, str], dict[str, Any]] = {}

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """A copy of the entity's state (your own changes included), or None."""
        ref = (kind, key)
        if ref not in self._states:
            entity = await self._store.get(kind, key)
            self._versions[ref] = 0 if entity is None else entity.version
            self._states[ref] = None if entity is None else entity.state
        state = self._changed.get(ref, self._states[ref])
        return copy.deepcopy(state)

    def put(self, kind: str, key: str, state: dict[str, Any]) -> None:
        """Change an entity read with `get` (or create one that `get` found missing)."""
        ref = (kind, key)
        if ref not in self._versions:
            raise KeyError(f"{kind}:{key} was not read in this unit; read it first")
        self._changed[ref] = copy.deepcopy(state)

    def version(self, kind: str, key: str) -> int:
        """The version the entity had when read (0: absent)."""
        return self._versions[(kind, key)]

    def changed(self) -> list[tuple[str, str, dict[str, Any] | None, dict[str, Any], int]]:
        """Each changed entity: (kind, key, state as read, state to write, version it will get)."""
        return [
            (kind, key, self._states[(kind, key)], state, self._versions[(kind, key)] + 1)
            for (kind, key), state in self._changed.items()
        ]

    def writes(self) -> list[Write]:
        """Compare-and-set writes of every changed entity."""
        return [
            Write(kind, key, state, expected_version=self._versions[(kind, key)])
            for (kind, key), state in self._changed.items()
        ]
