"""Which local sockets want which topic; one Redis subscription per topic per gateway."""

from __future__ import annotations

import asyncio
from typing import Protocol

from services.common.fanout import Fanout, Subscriber


class Recipient(Protocol):
    """A socket that takes fanned-out frames."""

    def deliver(self, topic: str, frame: bytes) -> None:
        """Queue a frame for the socket without waiting."""
        ...


class TopicRouter:
    """Subscribes to a topic when the first local socket needs it, drops it after the last."""

    def __init__(self, fanout: Fanout) -> None:
        self._fanout = fanout
        self._subscriber: Subscriber | None = None
        self._recipients: dict[str, set[Recipient]] = {}
        self._subscribed: dict[str, asyncio.Event] = {}

    async def start(self) -> None:
        self._subscriber = await self._fanout.subscriber(self._deliver)

    async def stop(self) -> None:
        if self._subscriber is not None:
            await self._subscriber.close()
        self._recipients.clear()
        self._subscribed.clear()

    @property
    def topic_count(self) -> int:
        return len(self._recipients)

    def _deliver(self, topic: str, frame: bytes) -> None:
        for recipient in tuple(self._recipients.get(topic, ())):
            recipient.deliver(topic, frame)

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
            finally:
                subscribed.set()
        else:
            recipients.add(recipient)
            # Another socket is subscribing this topic right now: wait until it is in place.
            await self._subscribed[topic].wait()

    async def remove(self, recipient: Recipient, topic: str) -> None:
        """Stop routing `topic` to `recipient`."""
        recipients = self._recipients.get(topic)
        if recipients is None:
            return
        recipients.discard(recipient)
        if not recipients:
            del self._recipients[topic]
            del self._subscribed[topic]
            assert self._subscriber is not None
            await self._subscriber.unsubscribe(topic)
