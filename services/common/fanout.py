"""Fan-out of events to gateways: the protocol and the in-process implementation.

Fan-out is at-most-once (Redis pub/sub); the history streams behind it make it recoverable.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol

OnMessage = Callable[[str, bytes], None]
# Called after the subscription was lost and is back: what was published meanwhile is gone.
OnResync = Callable[[], Coroutine[Any, Any, None]]


class Subscriber(Protocol):
    """One process's subscription: the topics it wants, delivered to one callback."""

    async def subscribe(self, topic: str) -> None:
        """Start receiving `topic`."""
        ...

    async def unsubscribe(self, topic: str) -> None:
        """Stop receiving `topic`."""
        ...

    async def close(self) -> None:
        """Drop every topic and release the connection."""
        ...

    @property
    def healthy(self) -> bool:
        """False while the subscription is known to be lost or wedged."""
        ...


class Fanout(Protocol):
    """Publishes serialised frames per topic to every subscribed process."""

    async def publish(self, topic: str, frame: bytes) -> None:
        """Deliver `frame` to every current subscriber of `topic` (no history)."""
        ...

    async def subscriber(
        self, on_message: OnMessage, on_resync: OnResync | None = None
    ) -> Subscriber:
        """Open a subscription whose messages go to `on_message(topic, frame)`."""
        ...

    async def ping(self) -> None:
        """Raise if the fan-out backend is not reachable."""
        ...

    async def close(self) -> None:
        """Release the backend."""
        ...


class MemorySubscriber:
    """A subscription on the in-process hub."""

    def __init__(self, hub: MemoryFanout, on_message: OnMessage) -> None:
        self._hub = hub
        self.on_message = on_message
        self.topics: set[str] = set()

    async def subscribe(self, topic: str) -> None:
        self.topics.add(topic)
        self._hub.topics.setdefault(topic, set()).add(self)

    async def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)
        members = self._hub.topics.get(topic)
        if members is not None:
            members.discard(self)
            if not members:
                del self._hub.topics[topic]

    async def close(self) -> None:
        for topic in list(self.topics):
            await self.unsubscribe(topic)

    @property
    def healthy(self) -> bool:
        return True


class MemoryFanout:
    """Fan-out inside one process."""

    def __init__(self) -> None:
        self.topics: dict[str, set[MemorySubscriber]] = {}

    async def publish(self, topic: str, frame: bytes) -> None:
        for subscriber in list(self.topics.get(topic, ())):
            subscriber.on_message(topic, frame)

    async def subscriber(
        self, on_message: OnMessage, on_resync: OnResync | None = None
    ) -> Subscriber:
        return MemorySubscriber(self, on_message)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.topics.clear()
