"""The sessions contract (per-user socket limit, live gateways, census), in process and on Redis."""

from __future__ import annotations

import asyncio

from services.common.adapters import Adapters


async def test_sockets_are_counted_per_live_gateway(adapters: Adapters) -> None:
    """The census counts each live gateway's sockets, a gateway with none included."""
    sessions = adapters.sessions
    await sessions.heartbeat("gw-a", 30)
    await sessions.heartbeat("gw-b", 30)
    assert await sessions.open("u1", "s1", "gw-a", 5) == []
    assert await sessions.open("u1", "s2", "gw-a", 5) == []
    assert await sessions.open("u2", "s3", "gw-a", 5) == []
    assert await sessions.census() == {"gw-a": 3, "gw-b": 0}
    await sessions.close("u1", "s1", "gw-a")
    await sessions.close("u1", "s1", "gw-a")  # twice: counted down once
    await sessions.close("u2", "s3", "gw-b")  # not that gateway's socket: nothing changes
    assert await sessions.census() == {"gw-a": 2, "gw-b": 0}


async def test_the_oldest_sockets_go_over_the_limit(adapters: Adapters) -> None:
    """At the limit, a new socket evicts the user's oldest, on whichever gateway it is."""
    sessions = adapters.sessions
    await sessions.heartbeat("gw-a", 30)
    await sessions.heartbeat("gw-b", 30)
    assert await sessions.open("u1", "s1", "gw-a", 2) == []
    assert await sessions.open("u1", "s2", "gw-b", 2) == []
    assert await sessions.open("u1", "s3", "gw-a", 2) == ["s1"]
    assert await sessions.open("u1", "s4", "gw-a", 2) == ["s2"]
    assert await sessions.census() == {"gw-a": 2, "gw-b": 0}
    # The evicted socket's gateway closes it afterwards: that must not count it down again.
    await sessions.close("u1", "s1", "gw-a")
    assert await sessions.census() == {"gw-a": 2, "gw-b": 0}


async def test_a_gateway_that_stopped_beating_stops_counting(adapters: Adapters) -> None:
    """A dead gateway's sockets leave the census and no longer count towards the limit."""
    sessions = adapters.sessions
    await sessions.heartbeat("gw-live", 30)
    await sessions.heartbeat("gw-dead", 0.2)
    await sessions.open("u1", "old-1", "gw-dead", 2)
    await sessions.open("u1", "old-2", "gw-dead", 2)
    await asyncio.sleep(0.4)
    assert await sessions.census() == {"gw-live": 0}
    # Its two sockets are gone with it, so two new ones fit under a limit of 2.
    assert await sessions.open("u1", "new-1", "gw-live", 2) == []
    assert await sessions.open("u1", "new-2", "gw-live", 2) == []
    assert await sessions.census() == {"gw-live": 2}


async def test_a_late_gateway_comes_back_with_its_count(adapters: Adapters) -> None:
    """A gateway whose heartbeat was only late is counted again, sockets and all."""
    sessions = adapters.sessions
    await sessions.heartbeat("gw-a", 0.2)
    await sessions.open("u1", "s1", "gw-a", 5)
    await asyncio.sleep(0.4)
    assert await sessions.census() == {}
    await sessions.heartbeat("gw-a", 30)
    assert await sessions.census() == {"gw-a": 1}
