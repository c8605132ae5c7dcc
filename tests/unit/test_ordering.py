"""Per-key ordering of concurrently handled deliveries."""

from __future__ import annotations

import asyncio
import random

from services.common.ordering import KeyedLocks


async def test_one_key_keeps_delivery_order_other_keys_interleave() -> None:
    locks = KeyedLocks()
    seen: dict[str, list[int]] = {"a": [], "b": []}

    async def handle(key: str, n: int) -> None:
        async with locks.hold(key):
            await asyncio.sleep(random.random() / 100)
            seen[key].append(n)

    await asyncio.gather(*(handle("ab"[n % 2], n) for n in range(40)))
    assert seen["a"] == list(range(0, 40, 2)) and seen["b"] == list(range(1, 40, 2))
    assert len(locks) == 0
