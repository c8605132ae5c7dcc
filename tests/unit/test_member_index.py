"""A member's projects are read through their index, kept by every writer of `members`."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.auth.members import Memberships
from services.common.access import PROJECT
from services.common.adapters import memory_adapters
from services.common.member_index import (
    INDEX_MARKER,
    MEMBER_PROJECTS,
    build_member_index,
)
from services.common.settings import CommonSettings
from services.common.store import Entity, MemoryStore, Write
from services.orchestrator.model import new_project
from tests.harness import ADMIN, ALICE, BOB, Harness


async def listed(h: Harness, user: object = ALICE) -> list[str]:
    result = await h.command("/project list", user=user)  # type: ignore[arg-type]
    assert result.ok and result.result is not None
    return [p["id"] for p in result.result["projects"]]


async def test_a_member_lists_their_projects_without_reading_every_project(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registering indexes the owner; a member's list never reads the whole kind."""
    assert (await harness.command("/project register alpha")).ok
    assert (await harness.command("/project register beta", user=BOB)).ok
    index = await harness.adapters.store.get(MEMBER_PROJECTS, ALICE.id)
    assert index is not None and index.state == {"projects": ["alpha"]}
    store = harness.adapters.store
    read_all: list[str] = []
    whole_kind = store.all

    async def counting_all(kind: str) -> list[Entity]:
        read_all.append(kind)
        return await whole_kind(kind)

    monkeypatch.setattr(store, "all", counting_all)
    assert await listed(harness) == ["alpha"]
    assert await listed(harness, BOB) == ["beta"]
    assert read_all == []
    assert await listed(harness, ADMIN) == ["alpha", "beta"]  # admins see every project
    assert read_all == [PROJECT]


async def test_membership_granted_and_ended_by_auth_moves_the_index(harness: Harness) -> None:
    """The auth service writes the member's index in the commit that changes `members`."""
    assert (await harness.command("/project register beta", user=BOB)).ok
    memberships = Memberships(harness.adapters.store, harness.adapters.fanout)
    assert await listed(harness) == []
    assert await memberships.add("beta", ALICE.id) == [BOB.id, ALICE.id]
    assert await listed(harness) == ["beta"]
    assert await memberships.remove("beta", ALICE.id) == [BOB.id]
    assert await listed(harness) == []
    index = await harness.adapters.store.get(MEMBER_PROJECTS, ALICE.id)
    assert index is not None and index.state == {"projects": []}


async def seed_old_projects(store: MemoryStore) -> None:
    """Projects as a deployment from before the index holds them: no index entities."""
    for name, owner in (("old-a", ALICE), ("old-b", BOB)):
        await store.commit([Write(PROJECT, name, new_project(name, name, owner), 0)])
    old_b = await store.get(PROJECT, "old-b")
    assert old_b is not None
    shared = {**old_b.state, "members": [BOB.id, ALICE.id]}
    await store.commit([Write(PROJECT, "old-b", shared, old_b.version)])


async def test_projects_from_before_the_index_are_indexed_at_start() -> None:
    """The orchestrator's start indexes existing projects once; a second build does nothing."""
    adapters = memory_adapters(CommonSettings(namespace="unit-index"))
    assert isinstance(adapters.store, MemoryStore)
    await seed_old_projects(adapters.store)
    harness = await Harness.start(adapters=adapters)
    try:
        assert await listed(harness) == ["old-a", "old-b"]
        assert await listed(harness, BOB) == ["old-b"]
        assert await adapters.store.get(*INDEX_MARKER) is not None
        assert await build_member_index(adapters.store) == 0
    finally:
        await harness.stop()


class GrantWhileIndexing(MemoryStore):
    """A store on which the auth service grants a membership while the index is being built:
    after the projects were read and before (or after) the members' index entities were."""

    def __init__(self, after_index_read: bool) -> None:
        super().__init__()
        self.after_index_read = after_index_read
        self.grant: Memberships | None = None

    async def get_many(self, kind: str, keys: Sequence[str]) -> list[Entity | None]:
        if kind == MEMBER_PROJECTS and not self.after_index_read:
            await self._grant()
        found = await super().get_many(kind, keys)
        if kind == MEMBER_PROJECTS:
            await self._grant()
        return found

    async def _grant(self) -> None:
        if self.grant is not None:
            grant, self.grant = self.grant, None
            await grant.add("old-a", BOB.id)


@pytest.mark.parametrize("after_index_read", [False, True], ids=["before", "after"])
async def test_a_membership_granted_while_indexing_is_kept(after_index_read: bool) -> None:
    """Granted after the projects were read: kept from the index entity, or (granted after
    that was read too) the compare-and-set fails and the build reads everything again."""
    store = GrantWhileIndexing(after_index_read)
    await seed_old_projects(store)
    adapters = memory_adapters(CommonSettings(namespace="unit-index-race"))
    store.grant = Memberships(store, adapters.fanout)
    assert await build_member_index(store) == 2
    assert store.grant is None  # the grant happened
    index = await store.get(MEMBER_PROJECTS, BOB.id)
    assert index is not None and index.state == {"projects": ["old-a", "old-b"]}
    await adapters.close()
