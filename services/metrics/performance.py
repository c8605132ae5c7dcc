"""`/api/performance`: what the stack does now, and a ring buffer of samples for its history."""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from services.common.bus import DEAD, QueueStats
from services.common.periodic import Periodic

from .agents import AgentTasks
from .host import Host
from .window import CommandWindow

log = logging.getLogger(__name__)

Census = Callable[[], Awaitable[dict[str, int]]]


class Performance:
    """Builds the snapshot `/api/performance` answers and samples it every `sample_s`."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        window: CommandWindow,
        agents: AgentTasks,
        host: Host,
        queues: Callable[[], dict[str, QueueStats]],
        sample_s: float,
        history_minutes: int,
    ) -> None:
        self._window = window
        self._agents = agents
        self._host = host
        self._queues = queues
        self._sample_s = sample_s
        self._samples: deque[dict[str, Any]] = deque(
            maxlen=max(1, math.ceil(history_minutes * 60 / sample_s))
        )
        self._census: Census | None = None
        self._last_host: dict[str, Any] | None = None
        self._every = Periodic(sample_s, self.sample, at_once=False)
        self.connections = Gauge(
            "huddle_websocket_connections",
            "Open WebSocket connections across live gateways (from the sessions in Redis)",
            registry=registry,
        )
        self.gateways = Gauge(
            "huddle_gateways_alive", "Gateways whose heartbeat has not expired", registry=registry
        )

    async def _connections(self) -> tuple[int | None, int | None]:
        if self._census is None:
            return None, None
        try:
            census = await self._census()
        except Exception as exc:
            log.warning("could not count connections: %r", exc)
            return None, None
        connections, gateways = sum(census.values()), len(census)
        self.connections.set(connections)
        self.gateways.set(gateways)
        return connections, gateways

    async def _figures(self, now: float, host: dict[str, Any]) -> dict[str, Any]:
        connections, gateways = await self._connections()
        queues = self._queues()
        return {
            "timestamp": round(now, 3),
            **host,
            "response_time_ms": self._window.latency_ms(now),
            "commands_per_second": self._window.rate(now),
            "websocket_connections": connections,
            "gateways": gateways,
            "agents_running": self._agents.running_now,
            "queue_backlog": sum(q.messages for n, q in queues.items() if n != DEAD),
            "dead_letters": queues[DEAD].messages if DEAD in queues else None,
        }

    async def sample(self, now: float | None = None) -> dict[str, Any]:
        """Measure now (CPU over the time since the previous sample) and keep the sample."""
        now = time.time() if now is None else now
        self._last_host = self._host.read()
        figures = await self._figures(now, self._last_host)
        self._samples.append(figures)
        return figures

    async def current(self) -> dict[str, Any]:
        """The latest figures, each agent's record and each queue.

        CPU and memory are those of the latest sample (at most `sample_s` old): CPU is a busy
        share over an interval, and reading it per request would shorten the sampler's.
        """
        host = self._last_host if self._last_host is not None else self._host.read()
        figures = await self._figures(time.time(), host)
        return {
            **figures,
            "window_s": self._window.window_s,
            "agent_performance": self._agents.performance(),
            "queues": {
                name: {"messages": q.messages, "consumers": q.consumers}
                for name, q in sorted(self._queues().items())
            },
        }

    def history(self, minutes: int, now: float | None = None) -> dict[str, Any]:
        """The samples of the last `minutes`, oldest first."""
        cutoff = (time.time() if now is None else now) - minutes * 60
        return {
            "interval_s": self._sample_s,
            "minutes": minutes,
            "samples": [s for s in self._samples if s["timestamp"] >= cutoff],
        }

    def start(self, census: Census) -> None:
        """Sample every `sample_s`, counting connections with `census`."""
        self._census = census
        self._host.cpu_percent()  # the baseline the first sample's CPU share is measured from
        self._every.start()

    async def stop(self) -> None:
        """Stop sampling."""
        await self._every.stop()
