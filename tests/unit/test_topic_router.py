"""The gateway holds one subscription per topic for all its sockets."""

from __future__ import annotations

import asyncio

from services.common.fanout import MemoryFanout
from services.common.history import MemoryHistory
from services.common.jsonutil import server_frame, with_position
from services.gateway.topics import TopicRouter


class Socket:
    def __init__(self) -> None:
        self.frames: list[tuple[str, bytes]] = []

    def deliver(self, topic: str, frame: bytes) -> None:
        self.frames.append((topic, frame))


async def test_subscribes_for_the_first_socket_and_unsubscribes_after_the_last() -> None:
    hub = MemoryFanout()
    router = TopicRouter(hub, MemoryHistory())
    await router.start()
    first, second = Socket(), Socket()
    await router.add(first, "project:p")
    await router.add(second, "project:p")
    assert len(hub.topics["project:p"]) == 1  # one subscription for both sockets
    await hub.publish("project:p", b"x")
    assert first.frames == second.frames == [("project:p", b"x")]
    await router.remove(first, "project:p")
    assert "project:p" in hub.topics
    await router.remove(second, "project:p")
    assert "project:p" not in hub.topics and router.topic_count == 0
    await router.stop()


async def test_repeated_events_are_dropped_and_a_gap_is_replayed_from_history() -> None:
    """Once per seq to sockets; after a lost subscription, the gap comes from the stream."""
    hub, history = MemoryFanout(), MemoryHistory()
    router = TopicRouter(hub, history)
    await router.start()
    socket = Socket()
    await router.add(socket, "t")
    frames = []
    for i in range(1, 4):
        body = server_frame("message", {"n": i})
        position = await history.append("t", f"e{i}", body)
        frames.append(with_position(body, "t", position.seq, position.epoch))
    await hub.publish("t", frames[0])
    await hub.publish("t", frames[0])  # a redelivery
    assert [f for _, f in socket.frames] == [frames[0]]
    await router.resync()  # frames 2 and 3 were published while the subscription was down
    assert [f for _, f in socket.frames] == frames
    await hub.publish("t", frames[2])  # arrives late from the fan-out: dropped
    assert len(socket.frames) == 3
    await router.stop()


async def test_a_gap_in_live_events_is_filled_from_history_before_going_on() -> None:
    """Events lost on the way (m2, m3) are fetched and forwarded before m4, in order."""
    hub, history = MemoryFanout(), MemoryHistory()
    router = TopicRouter(hub, history)
    await router.start()
    socket = Socket()
    await router.add(socket, "t")
    frames = []
    for i in range(1, 5):
        body = server_frame("message", {"n": i})
        position = await history.append("t", f"e{i}", body)
        frames.append(with_position(body, "t", position.seq, position.epoch))
    await hub.publish("t", frames[0])
    await hub.publish("t", frames[3])  # m2 and m3 never came through the fan-out
    await router.resync()  # the probe came back too: nothing may be doubled
    for _ in range(10):
        await asyncio.sleep(0.01)
    assert [f for _, f in socket.frames] == frames
    await router.stop()
