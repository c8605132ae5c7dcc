"""Batched acks: a `multiple` ack never covers a delivery still in hand."""

from __future__ import annotations

import asyncio

from services.common.acks import AckBatcher, ChannelAcks


class Broker:
    """What the broker saw: (tag, multiple) per ack frame, and which tags are settled."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bool]] = []
        self.acked: set[int] = set()
        self.unacked: set[int] = set()
        self.ack_sent: asyncio.Event | None = None

    def deliver(self, tag: int) -> Message:
        self.unacked.add(tag)
        return Message(self, tag)


class Message:
    def __init__(self, broker: Broker, tag: int) -> None:
        self.broker = broker
        self.tag = tag

    @property
    def delivery_tag(self) -> int | None:
        return self.tag

    async def ack(self, multiple: bool = False) -> None:
        assert self.tag in self.broker.unacked, f"ack of a settled tag {self.tag}"
        covered = {t for t in self.broker.unacked if t <= self.tag} if multiple else {self.tag}
        self.broker.unacked -= covered
        self.broker.acked |= covered
        self.broker.frames.append((self.tag, multiple))
        if self.broker.ack_sent is not None:
            self.broker.ack_sent.set()


def test_a_finished_run_is_one_multiple_ack() -> None:
    broker, acks = Broker(), ChannelAcks(max_gap=100)
    for tag in range(1, 6):
        acks.finished(broker.deliver(tag))
    assert asyncio.run(acks.flush()) == 1
    assert broker.frames == [(5, True)]
    assert broker.acked == {1, 2, 3, 4, 5}


def test_a_delivery_in_hand_is_never_covered() -> None:
    broker, acks = Broker(), ChannelAcks(max_gap=100)
    messages = [broker.deliver(tag) for tag in range(1, 6)]
    for message in messages:
        if message.tag != 3:  # still being handled
            acks.finished(message)
    asyncio.run(acks.flush())
    assert broker.frames == [(2, True)]
    assert 3 not in broker.acked and {4, 5} <= broker.unacked
    # One flush later, those past the gap are acked one by one; 3 is still untouched.
    asyncio.run(acks.flush())
    assert broker.acked == {1, 2, 4, 5} and broker.unacked == {3}
    acks.finished(messages[2])
    asyncio.run(acks.flush())
    assert broker.unacked == set()


def test_a_rejected_delivery_does_not_hold_the_run_back() -> None:
    broker, acks = Broker(), ChannelAcks(max_gap=100)
    messages = [broker.deliver(tag) for tag in range(1, 5)]
    broker.unacked.discard(2)  # rejected on its own
    acks.settled(2)
    for message in (messages[0], messages[2], messages[3]):
        acks.finished(message)
    asyncio.run(acks.flush())
    assert broker.frames == [(4, True)]
    assert broker.acked == {1, 3, 4}


def test_flush_everything_acks_past_a_gap_at_once() -> None:
    broker, acks = Broker(), ChannelAcks(max_gap=100)
    broker.deliver(1)
    acks.finished(broker.deliver(2))
    asyncio.run(acks.flush(everything=True))
    assert broker.frames == [(2, False)] and broker.unacked == {1}


def test_the_batcher_acks_within_its_delay() -> None:
    async def scenario() -> Broker:
        broker, batcher = Broker(), AckBatcher(delay_s=0.001, max_batch=100)
        broker.ack_sent = asyncio.Event()
        channel = object()
        held = broker.deliver(1)
        for tag in (2, 3):
            batcher.finished(channel, broker.deliver(tag))
        async with asyncio.timeout(10):
            while broker.unacked != {1}:
                broker.ack_sent.clear()
                await broker.ack_sent.wait()
        batcher.finished(channel, held)
        await batcher.close()
        return broker

    broker = asyncio.run(scenario())
    assert broker.unacked == set() and broker.acked == {1, 2, 3}
