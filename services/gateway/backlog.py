"""How many commands wait for the orchestrator, so a client whose command joins a long queue
is told so with `command_received` instead of guessing why its answer is late."""

from __future__ import annotations

import asyncio
import logging

from services.common.bus import Bus
from services.common.logs import ThrottledLog
from services.common.periodic import Periodic
from services.common.topology import ORCHESTRATOR_QUEUE

log = logging.getLogger(__name__)
_READ_TIMEOUT_S = 5.0


class CommandBacklog:
    """The orchestrator's queue depth, read every `interval_s` while started."""

    def __init__(self, bus: Bus, interval_s: float, notice_at: int) -> None:
        self._bus = bus
        self._notice_at = notice_at
        self._every = Periodic(interval_s, self.poll)
        self._failures = ThrottledLog(log, 30.0)
        self.depth = 0

    async def poll(self) -> None:
        """Read the queue's depth once."""
        try:
            async with asyncio.timeout(_READ_TIMEOUT_S):  # a broker reconnecting may not answer
                stats = await self._bus.queue_stats([ORCHESTRATOR_QUEUE])
        except Exception as exc:
            self.depth = 0  # unknown: better to say nothing than a stale number
            self._failures.warning("could not read the commands queue's depth: %r", exc)
            return
        queue = stats.get(ORCHESTRATOR_QUEUE)
        self.depth = 0 if queue is None else queue.messages

    def ahead(self) -> int | None:
        """The commands waiting before a new one if at least the notice threshold, else None."""
        return self.depth if self.depth >= self._notice_at else None

    def start(self) -> None:
        """Poll until stopped."""
        self._every.start()

    async def stop(self) -> None:
        """Stop polling."""
        await self._every.stop()
