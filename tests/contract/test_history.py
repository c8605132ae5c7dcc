"""The history contract, in process and on Redis Streams."""

from __future__ import annotations

import asyncio

from services.common.adapters import Adapters
from services.common.jsonutil import with_position


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


async def test_append_and_fan_out_publishes_the_positioned_frame(adapters: Adapters) -> None:
    """The frame goes out with its topic, seq and epoch, again (same seq) for a repeat."""
    received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    subscriber = await adapters.fanout.subscriber(lambda t, f: received.put_nowait((t, f)))
    topic = 'channel:p/"quoted"'
    try:
        await subscriber.subscribe(topic)
        history = adapters.history
        first = await history.append_and_fan_out(topic, "e1", b'{"n":1}', adapters.fanout)
        again = await history.append_and_fan_out(topic, "e1", b'{"n":1}', adapters.fanout)
        assert again == first and first.seq == 1
        expected = with_position(b'{"n":1}', topic, first.seq, first.epoch)
        for _ in range(2):
            assert await asyncio.wait_for(received.get(), 5) == (topic, expected)
        assert await history.since(topic, 0, 10) == [(1, b'{"n":1}')]
    finally:
        await subscriber.close()
