"""The gateway holds one subscription per topic for all its sockets."""

from __future__ import annotations

from services.common.fanout import MemoryFanout
from services.gateway.topics import TopicRouter


class Socket:
    def __init__(self) -> None:
        self.frames: list[tuple[str, bytes]] = []

    def deliver(self, topic: str, frame: bytes) -> None:
        self.frames.append((topic, frame))


async def test_subscribes_for_the_first_socket_and_unsubscribes_after_the_last() -> None:
    hub = MemoryFanout()
    router = TopicRouter(hub)
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
