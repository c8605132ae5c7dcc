"""Business metrics from domain events: commands, workflow, sprints, agents, notifications."""

from __future__ import annotations

import time
from collections import OrderedDict

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.common.contracts import (
    AgentResponseEvent,
    AgentStatusEvent,
    ChatMessageEvent,
    CommandResultEvent,
    DomainEvent,
    NotificationEvent,
    StateChangedEvent,
    StateChangeEvent,
)

from .agents import AgentTasks
from .window import CommandWindow

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SPRINT_BUCKETS = (10, 30, 60, 300, 900, 3600, 4 * 3600, 86_400, 7 * 86_400, 14 * 86_400)
SPRINT_ACTIVE, SPRINT_PLANNED, SPRINT_REVIEW = "SPRINT_ACTIVE", "SPRINT_PLANNED", "SPRINT_REVIEW"


class EventMetrics:
    """Counts what the events say happened; agent runs and the command window get their part."""

    def __init__(
        self,
        registry: CollectorRegistry,
        agents: AgentTasks,
        window: CommandWindow,
        max_tracked: int,
    ) -> None:
        self.agents = agents
        self.window = window
        self._max_tracked = max_tracked
        self._sprint_started: OrderedDict[str, float] = OrderedDict()
        self.events = Counter(
            "huddle_events_total", "Domain events consumed, by event", ["event"], registry=registry
        )
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
        self.sprints_started = Counter(
            "huddle_sprints_started_total", "Sprints started", registry=registry
        )
        self.sprints_completed = Counter(
            "huddle_sprints_completed_total",
            "Sprints whose every task finished (they went to review)",
            registry=registry,
        )
        self.sprint_duration = Histogram(
            "huddle_sprint_duration_seconds",
            "From a sprint's start to its review",
            buckets=SPRINT_BUCKETS,
            registry=registry,
        )
        self.messages = Counter(
            "huddle_chat_messages_total", "Chat messages posted", registry=registry
        )
        self.notifications = Counter(
            "huddle_notifications_total", "Notifications, by type", ["type"], registry=registry
        )
        self.entity_changes = Counter(
            "huddle_entity_changes_total",
            "Entity fields changed, by entity type and source (orchestrator or ui)",
            ["entity_type", "source"],
            registry=registry,
        )
        self.agent_responses = Counter(
            "huddle_agent_responses_total", "Agent messages, by agent", ["agent"], registry=registry
        )

    def observe(self, event: DomainEvent, now: float | None = None) -> None:
        """Update the metrics for one event."""
        now = time.time() if now is None else now
        self.events.labels(event.event).inc()
        if isinstance(event, CommandResultEvent):
            command = event.data.command
            latency = max(0.0, event.occurred_at - event.issued_at)
            self.commands.labels(command, "ok" if event.data.ok else "rejected").inc()
            self.latency.labels(command).observe(latency)
            self.window.add(now, latency)
        elif isinstance(event, StateChangeEvent):
            self._transition(event)
        elif isinstance(event, AgentStatusEvent):
            status = event.data
            self.agents.on_status(
                status.project_id,
                status.agent_id,
                status.status,
                status.task,
                status.phase,
                event.occurred_at,
            )
        elif isinstance(event, AgentResponseEvent):
            self.agent_responses.labels(event.data.agent_id).inc()
            self.agents.on_response(
                event.data.project_id, event.data.agent_id, event.data.result, event.occurred_at
            )
        elif isinstance(event, NotificationEvent):
            self.notifications.labels(event.data.type).inc()
        elif isinstance(event, StateChangedEvent):
            source = "ui" if event.data.source.startswith("ui:") else event.data.source
            self.entity_changes.labels(event.data.entity_type, source).inc()
        elif isinstance(event, ChatMessageEvent):
            self.messages.inc()

    def _transition(self, event: StateChangeEvent) -> None:
        data = event.data
        self.transitions.labels(data.old_state, data.new_state).inc()
        if data.old_state == SPRINT_PLANNED and data.new_state == SPRINT_ACTIVE:
            self.sprints_started.inc()
            self._sprint_started[data.project_id] = event.occurred_at
            while len(self._sprint_started) > self._max_tracked:
                self._sprint_started.popitem(last=False)
        elif data.new_state == SPRINT_REVIEW:
            self.sprints_completed.inc()
            started = self._sprint_started.pop(data.project_id, None)
            if started is not None:
                self.sprint_duration.observe(max(0.0, event.occurred_at - started))
