"""The gateway holds one subscription per topic for all its sockets."""

from __future__ import annotations

import asyncio

from services.common.fanout import MemoryFanout, OnMessage, OnResync, Subscriber
from services.common.history import MemoryHistory
from services.common.jsonutil import server_frame, with_position
from services.gateway.topics import TopicRouter


class Socket:
    def __init__(self) -> None:
        self.frames: list[tuple[str, bytes]] = []

    def deliver(self, topic: str, frame: bytes) -> None:
        self.frames.append((topic, frame))

    @property
    def full(self) -> bool:
        return False

    async def wait_for_room(self, within_s: float) -> None:
        return None


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


async def stored(history: MemoryHistory, count: int) -> list[bytes]:
    """`count` messages appended to topic `t`, as the positioned frames the fan-out carries."""
    frames = []
    for i in range(1, count + 1):
        body = server_frame("message", {"n": i})
        position = await history.append("t", f"e{i}", body)
        frames.append(with_position(body, "t", position.seq, position.epoch))
    return frames


async def test_repeated_events_are_dropped_and_a_gap_is_replayed_from_history() -> None:
    """Once per seq to sockets; after a lost subscription, the gap comes from the stream."""
    hub, history = MemoryFanout(), MemoryHistory()
    router = TopicRouter(hub, history)
    await router.start()
    socket = Socket()
    await router.add(socket, "t")
    frames = await stored(history, 3)
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
    frames = await stored(history, 4)
    await hub.publish("t", frames[0])
    await hub.publish("t", frames[3])  # m2 and m3 never came through the fan-out
    await router.resync()  # the probe came back too: nothing may be doubled
    for _ in range(10):
        await asyncio.sleep(0.01)
    assert [f for _, f in socket.frames] == frames
    await router.stop()


class SmallQueueSocket(Socket):
    """A socket whose send queue holds two frames; `drain` empties it like a writer."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: list[bytes] = []
        self.most_queued = 0
        self.room = asyncio.Event()
        self.delivered = asyncio.Event()

    def deliver(self, topic: str, frame: bytes) -> None:
        self.queue.append(frame)
        self.delivered.set()
        self.most_queued = max(self.most_queued, len(self.queue))

    @property
    def full(self) -> bool:
        return len(self.queue) >= 2

    async def wait_for_room(self, within_s: float) -> None:
        while len(self.queue) >= 2:
            self.room.clear()
            await asyncio.wait_for(self.room.wait(), within_s)

    def drain(self) -> None:
        self.frames.extend(("t", f) for f in self.queue)
        self.queue.clear()
        self.room.set()


async def test_a_replayed_gap_is_paced_to_the_socket_and_live_frames_wait_behind_it() -> None:
    """Twenty missed events never overfill a two-frame queue; a live one comes after them."""
    hub, history = MemoryFanout(), MemoryHistory()
    router = TopicRouter(hub, history)
    await router.start()
    socket = SmallQueueSocket()
    await router.add(socket, "t")
    frames = await stored(history, 22)
    await hub.publish("t", frames[0])
    socket.delivered.clear()
    resync = asyncio.create_task(router.resync())  # frames 2..21 were missed
    await asyncio.wait_for(socket.delivered.wait(), 5)
    await hub.publish("t", frames[21])  # live, during the replay: held until it is done
    while not resync.done() or socket.queue:
        socket.drain()
        await asyncio.sleep(0)
    assert [f for _, f in socket.frames] == frames
    assert socket.most_queued <= 2
    await router.stop()


class StuckSocket(Socket):
    """A socket whose queue is full and never drains: closed once its wait for room runs out."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    @property
    def full(self) -> bool:
        return not self.closed

    async def wait_for_room(self, within_s: float) -> None:
        await asyncio.sleep(within_s)
        self.closed = True


async def test_sockets_too_slow_for_a_replay_hold_the_others_up_once_not_once_each() -> None:
    """Three stuck sockets on a topic: a healthy one gets the gap after one wait, not three."""
    hub, history = MemoryFanout(), MemoryHistory()
    wait_s = 0.3
    router = TopicRouter(hub, history, replay_wait_s=wait_s)
    await router.start()
    healthy, stuck = Socket(), [StuckSocket() for _ in range(3)]
    for socket in (healthy, *stuck):
        await router.add(socket, "t")
    frames = await stored(history, 3)
    await hub.publish("t", frames[0])
    started = asyncio.get_running_loop().time()
    await router.resync()  # frames 2 and 3 were missed
    took = asyncio.get_running_loop().time() - started
    assert [f for _, f in healthy.frames] == frames
    assert all(socket.closed for socket in stuck)
    assert wait_s <= took < 2 * wait_s, took
    await router.stop()


class SlowToSubscribe(MemoryFanout):
    """A fan-out whose SUBSCRIBE takes `delay_s` (a Redis round trip); the first `failures`
    of them then fail (Redis away)."""

    def __init__(self, delay_s: float = 0.02, failures: int = 0) -> None:
        super().__init__()
        self.delay_s, self.failures = delay_s, failures

    async def subscriber(
        self, on_message: OnMessage, on_resync: OnResync | None = None
    ) -> Subscriber:
        inner = await super().subscriber(on_message, on_resync)
        real = inner.subscribe

        async def subscribe(topic: str) -> None:
            await asyncio.sleep(self.delay_s)  # long enough for another socket to wait on it
            if self.failures:
                self.failures -= 1
                raise ConnectionError("redis away")
            await real(topic)

        inner.subscribe = subscribe  # type: ignore[method-assign]
        return inner


async def test_a_failed_subscription_is_not_taken_for_one() -> None:
    """SUBSCRIBE failed: the socket's join fails, and the next one subscribes for real (the
    topic is not left looking subscribed, silent on this gateway), waiters included."""
    hub = SlowToSubscribe(delay_s=0.01, failures=1)
    router = TopicRouter(hub, MemoryHistory())
    await router.start()
    first, waiting = Socket(), Socket()
    attempt = asyncio.create_task(router.add(first, "project:p"))
    await asyncio.sleep(0)
    joined = asyncio.create_task(router.add(waiting, "project:p"))  # while the first subscribes
    results = await asyncio.gather(attempt, joined, return_exceptions=True)
    assert isinstance(results[0], ConnectionError) and results[1] is None
    await router.add(first, "project:p")  # the client's retry
    await hub.publish("project:p", b"x")
    assert first.frames == waiting.frames == [("project:p", b"x")]
    await router.stop()


async def test_a_socket_gone_while_waiting_on_anothers_subscription_is_not_routed_to() -> None:
    """Its join was cut off (the socket closed): it is not left among the recipients, where
    nobody would remove it and the topic would never be unsubscribed."""
    hub = SlowToSubscribe()
    router = TopicRouter(hub, MemoryHistory())
    await router.start()
    first, gone = Socket(), Socket()
    subscribing = asyncio.create_task(router.add(first, "project:p"))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(router.add(gone, "project:p"))
    await asyncio.sleep(0)
    waiting.cancel()
    await subscribing
    await hub.publish("project:p", b"x")
    assert first.frames == [("project:p", b"x")] and gone.frames == []
    await router.remove(first, "project:p")
    assert "project:p" not in hub.topics and router.topic_count == 0
    await router.stop()
