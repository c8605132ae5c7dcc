"""The gateway's presence tally when many sockets of one channel leave at the same moment."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from services.common.adapters import memory_adapters
from services.common.presence import Presence
from services.common.settings import CommonSettings
from services.gateway.presence import PresenceTracker

CHANNEL = ("p", "general")


def tracker_on_a_slow_store() -> tuple[PresenceTracker, Presence]:
    """A tracker whose store yields on every call, as Redis does (so leaves interleave)."""
    presence = memory_adapters(CommonSettings(namespace="unit")).presence
    for name in ("touch", "leave", "members"):
        call = getattr(presence, name)

        async def slow(*args: Any, _call: Any = call) -> Any:
            await asyncio.sleep(0.001)
            return await _call(*args)

        setattr(presence, name, slow)
    fanout = memory_adapters(CommonSettings(namespace="unit")).fanout
    return PresenceTracker(presence, fanout, "g1", ttl_s=30), presence


async def test_everyone_leaving_at_once_forgets_the_channel_without_error() -> None:
    tracker, presence = tracker_on_a_slow_store()
    users = [(f"u{i}", f"user{i}") for i in range(20)]
    for user_id, name in users:
        await tracker.joined(CHANNEL, user_id, name)
    await asyncio.gather(*(tracker.left(CHANNEL, uid, name) for uid, name in users))
    assert tracker._local == {} and tracker._announced == {}
    assert await presence.members("channel:p/general") == []


async def test_a_join_while_others_leave_keeps_the_newcomer() -> None:
    tracker, presence = tracker_on_a_slow_store()
    await tracker.joined(CHANNEL, "u1", "one")
    await tracker.joined(CHANNEL, "u2", "two")
    await asyncio.gather(
        tracker.left(CHANNEL, "u1", "one"),
        tracker.left(CHANNEL, "u2", "two"),
        tracker.joined(CHANNEL, "u3", "three"),
    )
    assert dict(tracker._local[CHANNEL]) == {("u3", "three"): 1}
    assert await presence.members("channel:p/general") == ["g1|u3|three"]


async def test_only_a_new_member_is_announced_to_the_channel() -> None:
    """A second tab of a present user gets the list alone: N joins are not N² deliveries."""
    tracker, _ = tracker_on_a_slow_store()
    published: list[bytes] = []

    async def publish(topic: str, frame: bytes) -> None:
        published.append(frame)

    tracker._fanout.publish = publish  # type: ignore[method-assign]
    assert await tracker.joined(CHANNEL, "u1", "one") is None
    assert len(published) == 1
    for _ in range(5):
        frame = await tracker.joined(CHANNEL, "u1", "one")
        assert frame is not None and orjson.loads(frame)["data"]["users"] == [
            {"id": "u1", "username": "one"}
        ]
    assert len(published) == 1
    assert await tracker.joined(CHANNEL, "u2", "two") is None
    assert len(published) == 2
