"""A background task that measures the round trip to Redis every few seconds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .metrics import RedisMetrics
from .periodic import Periodic

log = logging.getLogger(__name__)


class RedisProbe:
    """PINGs Redis every `interval_s` and records the round trip and whether it answered."""

    def __init__(
        self,
        ping: Callable[[], Awaitable[object]],
        metrics: RedisMetrics,
        *,
        interval_s: float,
        timeout_s: float,
    ) -> None:
        self._ping = ping
        self._metrics = metrics
        self._timeout_s = timeout_s
        self._every = Periodic(interval_s, self.probe)

    def start(self) -> None:
        """Start probing (the first probe runs at once)."""
        self._every.start()

    async def probe(self) -> float | None:
        """One probe: the round trip in seconds, or None if Redis did not answer in time."""
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self._ping(), self._timeout_s)
        except Exception as exc:
            log.warning("redis probe failed: %r", exc)
            self._metrics.up.set(0)
            self._metrics.failures.inc()
            return None
        elapsed = time.perf_counter() - started
        self._metrics.roundtrip.observe(elapsed)
        self._metrics.up.set(1)
        return elapsed

    async def stop(self) -> None:
        """Stop probing."""
        await self._every.stop()
