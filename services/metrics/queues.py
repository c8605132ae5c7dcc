"""Queue lag: how many messages wait in each queue of the stack, read every few seconds."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Gauge

from services.common.bus import Bus, QueueStats
from services.common.logs import ThrottledLog
from services.common.periodic import Periodic

log = logging.getLogger(__name__)


class QueuePoller:
    """Asks the broker for every queue's depth and consumers and exports them as gauges."""

    def __init__(self, registry: CollectorRegistry, interval_s: float) -> None:
        self._interval_s = interval_s
        self._every: Periodic | None = None
        self._failures = ThrottledLog(log, 30.0)  # while the broker is away: a line per 30 s
        self.latest: dict[str, QueueStats] = {}
        self.messages = Gauge(
            "huddle_bus_queue_messages",
            "Messages ready in a queue, waiting for a consumer (dead: the dead letters)",
            ["queue"],
            registry=registry,
        )
        self.consumers = Gauge(
            "huddle_bus_queue_consumers",
            "Consumers attached to a queue",
            ["queue"],
            registry=registry,
        )

    async def poll(self, bus: Bus) -> None:
        """Read every queue once and update the gauges."""
        try:
            stats = await bus.queue_stats()
        except Exception as exc:
            self._failures.warning("could not read queue depths: %r", exc)
            return
        for name, queue in stats.items():
            self.messages.labels(name).set(queue.messages)
            self.consumers.labels(name).set(queue.consumers)
        self.latest = stats

    def start(self, bus: Bus) -> None:
        """Poll every `interval_s` until stopped."""
        self._every = Periodic(self._interval_s, lambda: self.poll(bus))
        self._every.start()

    async def stop(self) -> None:
        """Stop polling."""
        if self._every is not None:
            await self._every.stop()
