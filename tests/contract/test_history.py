"""The history contract, in process and on Redis Streams."""

from __future__ import annotations

from services.common.adapters import Adapters


async def test_empty_topic_is_at_zero(adapters: Adapters) -> None:
    """A topic never written is at seq 0, with a stable epoch."""
    first = await adapters.history.position("channel:p/general")
    second = await adapters.history.position("channel:p/general")
    assert first.seq == 0 and first.epoch == second.epoch


async def test_append_numbers_events_in_order(adapters: Adapters) -> None:
    """Each append takes the next seq; reads come back oldest first."""
    history = adapters.history
    positions = [await history.append("t", f"e{i}", f'{{"n":{i}}}'.encode()) for i in range(1, 4)]
    assert [p.seq for p in positions] == [1, 2, 3]
    assert len({p.epoch for p in positions}) == 1
    assert await history.since("t", 1, 10) == [(2, b'{"n":2}'), (3, b'{"n":3}')]
    assert await history.latest("t", 2) == [(2, b'{"n":2}'), (3, b'{"n":3}')]
    assert await history.before("t", 3, 10) == [(2, b'{"n":2}'), (1, b'{"n":1}')]
    assert await history.before("t", None, 1) == [(3, b'{"n":3}')]
    assert await history.before("t", 1, 10) == []
    assert (await history.position("t")).seq == 3


async def test_append_is_idempotent_on_event_id(adapters: Adapters) -> None:
    """A redelivered event keeps its first seq and is stored once."""
    history = adapters.history
    first = await history.append("t", "same", b"{}")
    again = await history.append("t", "same", b"{}")
    assert again == first
    assert len(await history.since("t", 0, 10)) == 1


async def test_history_is_bounded(adapters: Adapters) -> None:
    """Old entries are trimmed past the configured length (approximately on Redis)."""
    for i in range(300):
        await adapters.history.append("long", f"e{i}", b"{}")
    kept = await adapters.history.since("long", 0, 1000)
    assert len(kept) < 300
    assert kept[-1][0] == 300
