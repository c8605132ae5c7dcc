"""The metrics service: business metrics from the event stream, in Prometheus format."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError

from services.common.adapters import Adapters, connect_adapters
from services.common.bus import Delivery, RejectMessage
from services.common.contracts import (
    DOMAIN_EVENT,
    ChatMessageEvent,
    CommandResultEvent,
    StateChangeEvent,
)
from services.common.http import host_app, new_registry
from services.common.settings import CommonSettings
from services.common.topology import METRICS_QUEUE

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class MetricsService:
    """Counts what happens, from the events alone."""

    name = "metrics"

    def __init__(self, settings: CommonSettings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.commands = Counter(
            "huddle_commands_total",
            "Commands by name and outcome",
            ["command", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "huddle_command_latency_seconds",
            "From the gateway taking a command to the orchestrator's result",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.transitions = Counter(
            "huddle_state_transitions_total",
            "Workflow transitions",
            ["old_state", "new_state"],
            registry=registry,
        )
        self.messages = Counter(
            "huddle_chat_messages_total", "Chat messages posted", registry=registry
        )
        self.router = APIRouter()

    async def start(self, adapters: Adapters) -> None:
        await adapters.bus.consume(METRICS_QUEUE, self.on_event)

    async def stop(self) -> None:
        return None

    async def on_event(self, delivery: Delivery) -> None:
        """Update the counters for one domain event."""
        try:
            event = DOMAIN_EVENT.validate_json(delivery.body)
        except ValidationError as exc:
            raise RejectMessage(f"not a domain event: {exc}") from exc
        if delivery.redelivered:
            # Counted already, most likely; a rare undercount beats double counting.
            return
        if isinstance(event, CommandResultEvent):
            command = event.data.command
            self.commands.labels(command, "ok" if event.data.ok else "rejected").inc()
            self.latency.labels(command).observe(max(0.0, event.occurred_at - event.issued_at))
        elif isinstance(event, StateChangeEvent):
            self.transitions.labels(event.data.old_state, event.data.new_state).inc()
        elif isinstance(event, ChatMessageEvent):
            self.messages.inc()


def create_app(settings: CommonSettings | None = None, adapters: Adapters | None = None) -> FastAPI:
    """The metrics service as its own HTTP app."""
    settings = settings or CommonSettings()
    registry = new_registry()
    service = MetricsService(settings, registry)

    async def connect() -> Adapters:
        return adapters or await connect_adapters(settings)

    return host_app(
        "Huddle metrics",
        [service],
        registry,
        connect,
        close_adapters=adapters is None,
        cors_origins=settings.allowed_origins,
    )
