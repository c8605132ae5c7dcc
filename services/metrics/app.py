"""The metrics service: business metrics from the event stream, and the performance API."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at runtime.

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from services.common.adapters import Adapters
from services.common.bus import Delivery, RejectMessage
from services.common.contracts import DOMAIN_EVENT
from services.common.http import bearer_claims
from services.common.keys import token_verifier
from services.common.service_app import service_app
from services.common.tokens import Claims, KeySource
from services.common.topology import METRICS_QUEUE

from .agents import AgentTasks
from .events import EventMetrics
from .host import Host
from .performance import Performance
from .queues import QueuePoller
from .settings import MetricsSettings
from .window import CommandWindow

log = logging.getLogger(__name__)


class MetricsService:
    """Counts what happens, from the events alone, and samples how the stack is doing."""

    name = "metrics"

    def __init__(
        self, settings: MetricsSettings, registry: CollectorRegistry, keys: KeySource | None = None
    ) -> None:
        self.settings = settings
        self.verifier = token_verifier(settings, keys)
        self.window = CommandWindow(
            settings.performance_window_s, settings.performance_latency_samples, time.time()
        )
        self.agents = AgentTasks(registry, settings.max_tracked)
        self.events = EventMetrics(registry, self.agents, self.window, settings.max_tracked)
        self.queues = QueuePoller(registry, settings.queue_poll_s)
        self.performance = Performance(
            registry,
            window=self.window,
            agents=self.agents,
            host=Host(),
            queues=lambda: self.queues.latest,
            sample_s=settings.performance_sample_s,
            history_minutes=settings.performance_history_minutes,
        )
        self.router = self._routes()

    async def start(self, adapters: Adapters) -> None:
        self.queues.start(adapters.bus)
        self.performance.start(adapters.sessions.census)
        await adapters.bus.consume(METRICS_QUEUE, self.on_event)

    async def stop(self) -> None:
        await self.performance.stop()
        await self.queues.stop()

    async def on_event(self, delivery: Delivery) -> None:
        """Update the metrics for one domain event."""
        try:
            event = DOMAIN_EVENT.validate_json(delivery.body)
        except ValidationError as exc:
            raise RejectMessage(f"not a domain event: {exc}") from exc
        if delivery.redelivered:
            # Counted already, most likely; a rare undercount beats double counting.
            return
        self.events.observe(event)

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix="/api", tags=["metrics"])
        CurrentClaims = Annotated[Claims, Depends(bearer_claims(lambda: self.verifier))]
        most = self.settings.performance_history_minutes

        @router.get("/performance")
        async def performance(claims: CurrentClaims) -> dict[str, Any]:
            """CPU, memory, response-time percentiles, connections, command rate, agents."""
            return await self.performance.current()

        @router.get("/performance/history")
        async def history(
            claims: CurrentClaims,
            minutes: Annotated[int, Query(ge=1, le=most)] = min(60, most),
        ) -> dict[str, Any]:
            """The samples of the last `minutes`, oldest first."""
            return self.performance.history(minutes)

        return router


def create_app(
    settings: MetricsSettings | None = None, adapters: Adapters | None = None
) -> FastAPI:
    """The metrics service as its own HTTP app."""
    settings = settings or MetricsSettings()
    return service_app(
        "Huddle metrics", settings, lambda registry: MetricsService(settings, registry), adapters
    )
