"""A socket's inbox: frames handled in order, the reader never blocked below the limit."""

from __future__ import annotations

import asyncio

from services.gateway.inbox import FrameInbox


async def test_items_run_in_order_and_replies_keep_their_place() -> None:
    """A reply made while frames wait goes out after them; with nothing waiting, at once."""
    inbox = FrameInbox(limit=8)
    done: list[str] = []
    gate = asyncio.Event()

    async def frame(name: str) -> None:
        await gate.wait()
        done.append(name)

    inbox.now_or_in_turn(lambda: done.append("first reply"))
    assert done == ["first reply"]  # nothing waited: sent at once
    await inbox.put(lambda: frame("a"))
    inbox.now_or_in_turn(lambda: done.append("reply to b"))
    await inbox.put(lambda: frame("c"))
    assert inbox.waiting == 3
    gate.set()
    await inbox.join()
    assert done == ["first reply", "a", "reply to b", "c"]
    assert inbox.waiting == 0


async def test_the_reader_waits_only_at_the_limit() -> None:
    """With `limit` items waiting, the next put waits until one is done."""
    inbox = FrameInbox(limit=2)
    gate = asyncio.Event()
    await inbox.put(gate.wait)
    await inbox.put(gate.wait)  # at the limit now, and it did not wait
    third = asyncio.create_task(inbox.put(gate.wait))
    await asyncio.sleep(0.05)
    assert not third.done()
    gate.set()
    await asyncio.wait_for(third, 1)
    await inbox.join()


async def test_a_failing_item_does_not_stop_the_rest() -> None:
    inbox = FrameInbox(limit=4)
    done: list[int] = []

    async def boom() -> None:
        raise RuntimeError("bug")

    async def ok() -> None:
        done.append(1)

    await inbox.put(boom)
    await inbox.put(ok)
    await inbox.join()
    assert done == [1]


async def test_cancel_drops_what_waits() -> None:
    """A socket gone for good: the item running stops and the rest never runs."""
    inbox = FrameInbox(limit=4)
    started: list[str] = []

    async def slow(name: str) -> None:
        started.append(name)
        await asyncio.sleep(10)

    await inbox.put(lambda: slow("a"))
    await inbox.put(lambda: slow("b"))
    await asyncio.sleep(0.01)
    inbox.cancel()
    await asyncio.sleep(0.01)
    assert started == ["a"] and inbox.waiting == 0
