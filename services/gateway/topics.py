"""Which local sockets want which topic; one subscription per topic per gateway.

The router also remembers the last `seq` it forwarded on each topic, so that it can drop a
repeated event and, when the fan-out subscription was lost and came back, replay the gap
from the history streams itself: connected clients miss nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from services.common.fanout import Fanout, Subscriber
from services.common.history import History
from services.common.jsonutil import with_position

log = logging.getLogger(__name__)


class Recipient(Protocol):
    """A socket that takes fanned-out frames."""

    def deliver(self, topic: str, frame: bytes) -> None:
        """Queue a frame for the socket without waiting."""
        ...

    @property
    def full(self) -> bool:
        """Whether the socket's send queue is at its limit (and the socket still open)."""
        ...

    async def wait_for_room(self, within_s: float) -> None:
        """Wait until the socket's send queue has room (closing it if none comes in time)."""
        ...


@dataclass
class Mark:
    """The last position forwarded on a topic."""

    seq: int
    epoch: bytes


def position_of(frame: bytes) -> Mark | None:
    """The `seq` and `epoch` a fanned-out frame carries at its end, without parsing it all."""
    at = frame.rfind(b'"seq":')
    if at < 0:
        return None
    end = frame.find(b",", at)
    seq = int(frame[at + 6 : end if end > 0 else len(frame) - 1])
    start = frame.rfind(b'"epoch":"')
    epoch = frame[start + 9 : frame.find(b'"', start + 9)] if start >= 0 else b""
    return Mark(seq, epoch)


class TopicRouter:
    """Subscribes to a topic when the first local socket needs it, drops it after the last."""

    def __init__(
        self,
        fanout: Fanout,
        history: History,
        replay_page: int = 500,
        replay_wait_s: float = 5.0,
    ) -> None:
        self._fanout = fanout
        self._history = history
        self._replay_page = replay_page
        self._replay_wait_s = replay_wait_s
        self._subscriber: Subscriber | None = None
        self._recipients: dict[str, set[Recipient]] = {}
        self._subscribed: dict[str, asyncio.Event] = {}
        self._marks: dict[str, Mark] = {}
        self._repairing: dict[str, list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.replayed = 0

    async def start(self) -> None:
        self._subscriber = await self._fanout.subscriber(self._deliver, self.resync)

    async def stop(self) -> None:
        if self._subscriber is not None:
            await self._subscriber.close()
        self._recipients.clear()
        self._subscribed.clear()
        self._marks.clear()
        for task in list(self._tasks):
            task.cancel()

    @property
    def healthy(self) -> bool:
        return self._subscriber is not None and self._subscriber.healthy

    @property
    def topic_count(self) -> int:
        return len(self._recipients)

    def _deliver(self, topic: str, frame: bytes) -> None:
        mark = position_of(frame)
        if mark is None:
            self._forward(topic, frame)  # typing, presence, control frames: not in history
            return
        held = self._repairing.get(topic)
        if held is not None:
            held.append(frame)  # a gap is being filled: this comes after it
            return
        known = self._marks.get(topic)
        if known is not None and known.epoch == mark.epoch:
            if mark.seq <= known.seq:
                return  # already forwarded (a redelivery, or a replay got there first)
            if mark.seq > known.seq + 1:
                # Events went missing on the way (a lost subscription): fetch them first.
                self._repairing[topic] = [frame]
                self._tasks.add(task := asyncio.create_task(self._repair(topic)))
                task.add_done_callback(self._tasks.discard)
                return
        self._marks[topic] = mark
        self._forward(topic, frame)

    def _forward(self, topic: str, frame: bytes) -> None:
        for recipient in tuple(self._recipients.get(topic, ())):
            recipient.deliver(topic, frame)

    async def resync(self) -> None:
        """Forward, from history, what every topic published while the subscription was down."""
        for topic in list(self._recipients):
            if topic not in self._repairing:
                self._repairing[topic] = []
                await self._repair(topic)

    async def _repair(self, topic: str) -> None:
        """Replay a topic's gap from its stream, then release what arrived meanwhile."""
        try:
            known = self._marks.get(topic)
            current = await self._history.position(topic)
            if known is not None and known.epoch == current.epoch.encode():
                while True:
                    entries = await self._history.since(topic, known.seq, self._replay_page)
                    if not entries:
                        break
                    for seq, body in entries:
                        self.replayed += 1
                        known = Mark(seq, known.epoch)
                        self._marks[topic] = known
                        # A gap comes back in one burst: paced, so it cannot overflow a
                        # socket's send queue by itself (a socket too slow still is closed).
                        await self._room(topic)
                        self._forward(topic, with_position(body, topic, seq, current.epoch))
        except Exception:
            log.exception("could not replay %s from history", topic)
        finally:
            held = self._repairing.get(topic, [])
            if held:
                first = position_of(held[0])
                known = self._marks.get(topic)
                if first is not None and (
                    known is None or known.epoch != first.epoch or known.seq < first.seq - 1
                ):
                    # Not in history any more (trimmed or lost): go on from what is here.
                    self._marks[topic] = Mark(first.seq - 1, first.epoch)
            await self._release(topic, held)

    async def _release(self, topic: str, held: list[bytes]) -> None:
        """Deliver what arrived during a repair, paced; what arrives meanwhile queues behind."""
        while held:
            await self._room(topic)
            frame = held.pop(0)
            self._repairing.pop(topic, None)
            self._deliver(topic, frame)
            if topic in self._repairing:  # that frame opened a new gap: its repair takes the rest
                self._repairing[topic].extend(held)
                return
            self._repairing[topic] = held
        self._repairing.pop(topic, None)

    async def _room(self, topic: str) -> None:
        # Only full sockets wait, all at once: sockets too slow to read hold the others up
        # for one `replay_wait_s` in all (then they are closed), not one each.
        full = [r for r in tuple(self._recipients.get(topic, ())) if r.full]
        if full:
            await asyncio.gather(*(r.wait_for_room(self._replay_wait_s) for r in full))

    async def add(self, recipient: Recipient, topic: str) -> None:
        """Route `topic` to `recipient`; returns once the subscription is in place."""
        assert self._subscriber is not None
        recipients = self._recipients.get(topic)
        if recipients is None:
            recipients = self._recipients[topic] = set()
            recipients.add(recipient)
            subscribed = self._subscribed[topic] = asyncio.Event()
            try:
                await self._subscriber.subscribe(topic)
                if topic not in self._marks:
                    position = await self._history.position(topic)
                    self._marks.setdefault(topic, Mark(position.seq, position.epoch.encode()))
            except BaseException:
                # Not in place (Redis away): forget the topic, so that the next socket to ask
                # subscribes again. Kept, it would look subscribed and stay silent here.
                del self._recipients[topic], self._subscribed[topic]
                self._marks.pop(topic, None)
                raise
            finally:
                subscribed.set()
        else:
            recipients.add(recipient)
            # Another socket is subscribing this topic right now: wait until it is in place.
            try:
                await self._subscribed[topic].wait()
            except BaseException:  # cut off (the socket closed): its caller never tracked it
                recipients.discard(recipient)
                raise
            if self._recipients.get(topic) is not recipients:  # that subscription failed
                await self.add(recipient, topic)

    async def remove(self, recipient: Recipient, topic: str) -> None:
        """Stop routing `topic` to `recipient`."""
        recipients = self._recipients.get(topic)
        if recipients is None:
            return
        recipients.discard(recipient)
        if not recipients:
            del self._recipients[topic]
            del self._subscribed[topic]
            self._marks.pop(topic, None)
            assert self._subscriber is not None
            await self._subscriber.unsubscribe(topic)
