"""The store contract, in process and on Redis."""

from __future__ import annotations

import asyncio

import pytest

from services.common.adapters import Adapters
from services.common.store import AlreadyProcessed, VersionConflict, Write
from services.common.store_redis import GET_MANY_CHUNK


async def test_create_read_update(adapters: Adapters) -> None:
    """Versions start at 1 and grow by one per write."""
    store = adapters.store
    assert await store.get("project", "p") is None
    assert await store.commit([Write("project", "p", {"n": 1}, 0)]) == [1]
    assert await store.commit([Write("project", "p", {"n": 2}, 1)]) == [2]
    entity = await store.get("project", "p")
    assert entity is not None and (entity.version, entity.state) == (2, {"n": 2})
    assert await store.keys("project") == ["p"]


async def test_stale_write_is_refused_and_nothing_is_written(adapters: Adapters) -> None:
    """Compare-and-set: one stale write fails the whole commit."""
    store = adapters.store
    await store.commit([Write("a", "1", {"v": 1}, 0)])
    with pytest.raises(VersionConflict) as conflict:
        await store.commit([Write("b", "1", {"v": 1}, 0), Write("a", "1", {"v": 2}, 0)])
    assert conflict.value.actual == 1
    assert await store.get("b", "1") is None


async def test_token_makes_a_commit_happen_once(adapters: Adapters) -> None:
    """A second commit with the same token is refused with the first outcome."""
    store = adapters.store
    await store.commit([Write("a", "1", {}, 0)], token="cmd-1", outcome=b"first")
    with pytest.raises(AlreadyProcessed) as done:
        await store.commit([Write("a", "2", {}, 0)], token="cmd-1", outcome=b"second")
    assert done.value.outcome == b"first"
    assert await store.get("a", "2") is None


async def test_racing_writers_one_wins(adapters: Adapters) -> None:
    """Two writers with the same expected version: exactly one succeeds."""
    store = adapters.store
    await store.commit([Write("a", "r", {"n": 0}, 0)])
    results = await asyncio.gather(
        *(store.commit([Write("a", "r", {"n": i}, 1)]) for i in range(2)), return_exceptions=True
    )
    assert sum(isinstance(r, VersionConflict) for r in results) == 1


async def test_entities_with_ttl_expire(adapters: Adapters) -> None:
    """A write with a TTL disappears after it."""
    await adapters.store.commit([Write("refresh", "t", {}, 0, ttl_s=1)])
    assert await adapters.store.get("refresh", "t") is not None
    await asyncio.sleep(1.2)
    assert await adapters.store.get("refresh", "t") is None


async def test_outcome_of_a_token(adapters: Adapters) -> None:
    """The recorded outcome can be read without committing again."""
    assert await adapters.store.outcome("cmd-9") is None
    await adapters.store.commit([], token="cmd-9", outcome=b"events")
    assert await adapters.store.outcome("cmd-9") == b"events"


async def test_all_reads_every_entity_of_a_kind(adapters: Adapters) -> None:
    """`all` returns what `keys` and `get` would, sorted by key, other kinds left out."""
    store = adapters.store
    await store.commit([Write("pet", "b", {"n": 2}, expected_version=0)])
    await store.commit([Write("pet", "a", {"n": 1}, expected_version=0)])
    await store.commit([Write("plant", "c", {"n": 3}, expected_version=0)])
    await store.commit([Write("pet", "a", {"n": 11}, expected_version=1)])
    found = await store.all("pet")
    assert found == [await store.get("pet", key) for key in await store.keys("pet")]
    assert [(e.key, e.version, e.state) for e in found] == [("a", 2, {"n": 11}), ("b", 1, {"n": 2})]
    await store.delete("pet", "b")
    assert [e.key for e in await store.all("pet")] == ["a"]
    assert await store.all("none") == []


async def test_get_many_reads_keys_in_their_order(adapters: Adapters) -> None:
    """`get_many` answers what `get` would for each key, in the order asked, None if missing."""
    store = adapters.store
    await store.commit([Write("pet", "a", {"n": 1}, 0), Write("pet", "b", {"n": 2}, 0)])
    await store.commit([Write("pet", "b", {"n": 3}, 1), Write("plant", "c", {}, 0)])
    found = await store.get_many("pet", ["b", "missing", "a", "c"])
    assert found == [await store.get("pet", key) for key in ["b", "missing", "a", "c"]]
    assert [(e.key, e.version, e.state) if e else None for e in found] == [
        ("b", 2, {"n": 3}),
        None,
        ("a", 1, {"n": 1}),
        None,
    ]
    assert await store.get_many("pet", []) == []


async def test_get_many_across_the_chunk_boundary(adapters: Adapters) -> None:
    """More keys than one Redis call reads: still every entity, in order."""
    store = adapters.store
    count = GET_MANY_CHUNK + 1
    await store.commit([Write("pet", f"k{i:04d}", {"i": i}, 0) for i in range(0, count, 2)])
    keys = [f"k{i:04d}" for i in range(count)]
    found = await store.get_many("pet", keys)
    assert [e.state["i"] if e else None for e in found] == [
        i if i % 2 == 0 else None for i in range(count)
    ]
    assert [e.key for e in await store.all("pet")] == keys[::2]
