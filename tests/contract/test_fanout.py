"""The fan-out contract, in process and on Redis pub/sub."""

from __future__ import annotations

import asyncio

from services.common.adapters import Adapters


async def test_subscriber_gets_its_topics_only(adapters: Adapters) -> None:
    """A subscriber receives frames of the topics it subscribed, until it unsubscribes."""
    received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    subscriber = await adapters.fanout.subscriber(lambda t, f: received.put_nowait((t, f)))
    try:
        await subscriber.subscribe("channel:p/general")
        await adapters.fanout.publish("channel:p/other", b"not for us")
        await adapters.fanout.publish("channel:p/general", b"hello")
        assert await asyncio.wait_for(received.get(), 5) == ("channel:p/general", b"hello")
        await subscriber.unsubscribe("channel:p/general")
        await adapters.fanout.publish("channel:p/general", b"after")
        await asyncio.sleep(0.2)
        assert received.empty()
    finally:
        await subscriber.close()


async def test_every_subscriber_gets_a_copy(adapters: Adapters) -> None:
    """Two subscriptions (two gateways) on one topic both receive each frame."""
    first: asyncio.Queue[bytes] = asyncio.Queue()
    second: asyncio.Queue[bytes] = asyncio.Queue()
    a = await adapters.fanout.subscriber(lambda t, f: first.put_nowait(f))
    b = await adapters.fanout.subscriber(lambda t, f: second.put_nowait(f))
    try:
        await a.subscribe("project:p")
        await b.subscribe("project:p")
        await adapters.fanout.publish("project:p", b"x")
        assert await asyncio.wait_for(first.get(), 5) == b"x"
        assert await asyncio.wait_for(second.get(), 5) == b"x"
    finally:
        await a.close()
        await b.close()
