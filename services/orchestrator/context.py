"""One piece of domain work in progress: its unit of work and what it will emit."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.contracts import (
    AgentResponseData,
    AgentResponseEvent,
    AgentStatusData,
    AgentStatusEvent,
    Button,
    ChannelCreatedData,
    ChannelCreatedEvent,
    ChatMessageData,
    ChatMessageEvent,
    CommandEnvelope,
    CommandResultData,
    CommandResultEvent,
    DomainEvent,
    InteractiveElement,
    NotificationData,
    NotificationEvent,
    StateChangeConfirmedData,
    StateChangeConfirmedEvent,
    StateChangeData,
    StateChangedData,
    StateChangedEvent,
    StateChangeEvent,
    StateChangeRejectedData,
    StateChangeRejectedEvent,
    StepEnvelope,
    channel_topic,
    entity_topic,
    project_topic,
    user_topic,
)
from services.common.entities import changes

from .model import AGENT_STATE, new_agents
from .unit import Unit
from .workflow import State, allowed_commands

AGENT_CHANNEL = "general"
WORKFLOW_SOURCE = "orchestrator"


@dataclass
class Outcome:
    """Everything a command or step decided, committed and then published together."""

    events: list[DomainEvent] = field(default_factory=list)
    steps: list[StepEnvelope] = field(default_factory=list)


class Context:
    """Collects the events and follow-up steps of one command or step, with stable ids."""

    def __init__(self, token: str, unit: Unit, envelope: CommandEnvelope | None = None) -> None:
        self.token = token
        self.unit = unit
        self.envelope = envelope
        self.outcome = Outcome()
        self.now = time.time()
        self._events_made = 0
        # A UI-initiated change: (entity_type, entity_id, field) and its `ui:<session>` source.
        self.ui_change: tuple[str, str, str] | None = None
        self.ui_source: str | None = None

    def _event_base(self, topic: str) -> dict[str, Any]:
        # Ids derive from the token, so deciding again after a redelivery yields the same ids.
        # They count events made, not kept, so dropping one never makes two ids equal.
        self._events_made += 1
        return {
            "id": f"{self.token}:{self._events_made - 1}",
            "topic": topic,
            "correlation_id": self.token,
            "occurred_at": self.now,
        }

    @property
    def is_admin(self) -> bool:
        return self.envelope is not None and "admin" in self.envelope.user.roles

    def reply(
        self,
        command: str,
        *,
        ok: bool,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        hint: str | None = None,
        project: dict[str, Any] | None = None,
        elements: Sequence[InteractiveElement] | None = None,
    ) -> None:
        """Answer the sender with `command_result`."""
        assert self.envelope is not None, "only commands have a sender to answer"
        state = None if project is None else State(project["state"])
        self.outcome.events.append(
            CommandResultEvent(
                event="command_result",
                **self._event_base(user_topic(self.envelope.user.id)),
                session_id=self.envelope.session_id,
                issued_at=self.envelope.issued_at,
                data=CommandResultData(
                    command_id=self.envelope.command_id,
                    command=command,
                    ok=ok,
                    result=result,
                    error=error,
                    hint=hint,
                    current_state=None if state is None else state.value,
                    allowed_commands=None
                    if state is None
                    else tuple(allowed_commands(state, admin=self.is_admin)),
                    interactive_elements=tuple(elements) if elements else None,
                ),
            )
        )

    def fail(
        self,
        command: str,
        error: str,
        hint: str | None = None,
        project: dict[str, Any] | None = None,
    ) -> None:
        """Answer the sender that the command was refused."""
        self.reply(command, ok=False, error=error, hint=hint, project=project)

    def transition(self, project: dict[str, Any], new_state: State, reason: str) -> None:
        """Move the project (a state dict, changed in place) to `new_state`."""
        old_state = project["state"]
        project["state"] = new_state.value
        if old_state != new_state.value:
            self.outcome.events.append(
                StateChangeEvent(
                    event="state_change",
                    **self._event_base(project_topic(project["id"])),
                    data=StateChangeData(
                        project_id=project["id"],
                        old_state=old_state,
                        new_state=new_state.value,
                        reason=reason,
                    ),
                )
            )

    def chat(self, project_id: str, channel: str, text: str) -> None:
        """A chat message from the sender."""
        assert self.envelope is not None
        self.outcome.events.append(
            ChatMessageEvent(
                event="message",
                **self._event_base(channel_topic(project_id, channel)),
                data=ChatMessageData(
                    id=self.envelope.command_id,
                    project_id=project_id,
                    channel=channel,
                    user=self.envelope.user,
                    text=text,
                    ts=self.now,
                ),
            )
        )

    def agent_says(
        self,
        project_id: str,
        agent: str,
        message: str,
        *,
        result: dict[str, Any] | None = None,
        elements: Sequence[InteractiveElement] | None = None,
        channel: str = AGENT_CHANNEL,
    ) -> None:
        """An agent's message in a channel of the project."""
        self.outcome.events.append(
            AgentResponseEvent(
                event="agent_response",
                **self._event_base(channel_topic(project_id, channel)),
                data=AgentResponseData(
                    project_id=project_id,
                    channel=channel,
                    agent_id=agent,
                    message=message,
                    result=result,
                    interactive_elements=tuple(elements) if elements else None,
                    ts=self.now,
                ),
            )
        )

    def notify(
        self,
        project_id: str,
        kind: str,
        title: str,
        message: str,
        actions: Sequence[InteractiveElement] | None = None,
    ) -> None:
        """A notification to everyone in the project."""
        self.outcome.events.append(
            NotificationEvent(
                event="notification",
                **self._event_base(project_topic(project_id)),
                data=NotificationData.model_validate(
                    {
                        "project_id": project_id,
                        "type": kind,
                        "title": title,
                        "message": message,
                        "actions": tuple(actions) if actions else None,
                    }
                ),
            )
        )

    def channel_created(self, project_id: str, channel: str) -> None:
        """Everyone in the project learns of a new channel (their lists gain it at once)."""
        assert self.envelope is not None
        self.outcome.events.append(
            ChannelCreatedEvent(
                event="channel_created",
                **self._event_base(project_topic(project_id)),
                data=ChannelCreatedData(
                    project_id=project_id, channel=channel, user=self.envelope.user
                ),
            )
        )

    async def set_agent(
        self,
        project_id: str,
        agent: str,
        status: str,
        *,
        task: str | None = None,
        phase: str | None = None,
        progress: int | None = None,
    ) -> None:
        """Record an agent's status and announce it."""
        agents = await self.unit.get(AGENT_STATE, project_id) or new_agents()
        agents[agent] = {"status": status, "task": task, "phase": phase, "progress": progress}
        self.unit.put(AGENT_STATE, project_id, agents)
        self.announce_agent(project_id, agent, status, task=task, phase=phase, progress=progress)

    def announce_agent(
        self,
        project_id: str,
        agent: str,
        status: str,
        *,
        task: str | None = None,
        phase: str | None = None,
        progress: int | None = None,
    ) -> None:
        """An `agent_status` event (the caller records the status)."""
        self.outcome.events.append(
            status_event(
                self._event_base(project_topic(project_id)),
                project_id,
                agent,
                status,
                task,
                phase,
                progress,
            )
        )

    def announce_changes(self) -> None:
        """A `state_changed` event for every field of a UI entity this work changes.

        Called once, when the work is decided and about to be committed: the diff is between
        each aggregate as read and as it will be written, at the version the write gives it.
        The UI change itself (if this is one) has the source `ui:<session>`; everything it
        caused, and every workflow change, has the source `orchestrator`.
        """
        for kind, key, old, new, version in self.unit.changed():
            for change in changes(kind, key, old, new):
                ref = (change.entity_type, change.entity_id, change.field)
                source = (
                    self.ui_source
                    if self.ui_source is not None and ref == self.ui_change
                    else WORKFLOW_SOURCE
                )
                self.outcome.events.append(
                    StateChangedEvent(
                        event="state_changed",
                        **self._event_base(entity_topic(change.entity_type, change.entity_id)),
                        data=StateChangedData.model_validate(
                            {
                                "entity_type": change.entity_type,
                                "entity_id": change.entity_id,
                                "field": change.field,
                                "old_value": change.old_value,
                                "new_value": change.new_value,
                                "version": version,
                                "source": source,
                            }
                        ),
                    )
                )

    def confirm_change(
        self, user_id: str, session_id: str, change_id: str, version: int, ref: str | None
    ) -> None:
        """Tell the sender of a UI change that it was applied."""
        self.outcome.events.append(
            StateChangeConfirmedEvent(
                event="state_change_confirmed",
                **self._event_base(user_topic(user_id)),
                data=StateChangeConfirmedData(
                    change_id=change_id, version=version, session_id=session_id, ref=ref
                ),
            )
        )

    def reject_change(
        self, user_id: str, session_id: str, change_id: str, reason: str, ref: str | None
    ) -> None:
        """Tell the sender of a UI change that it was not applied, and why."""
        self.outcome.events.append(
            StateChangeRejectedEvent(
                event="state_change_rejected",
                **self._event_base(user_topic(user_id)),
                data=StateChangeRejectedData(
                    change_id=change_id, reason=reason, session_id=session_id, ref=ref
                ),
            )
        )

    def schedule(self, step: StepEnvelope) -> None:
        """Run `step` once this work is committed."""
        self.outcome.steps.append(step)


def status_event(
    base: dict[str, Any],
    project_id: str,
    agent: str,
    status: str,
    task: str | None,
    phase: str | None,
    progress: int | None,
) -> AgentStatusEvent:
    """An `agent_status` event."""
    return AgentStatusEvent(
        event="agent_status",
        **base,
        data=AgentStatusData.model_validate(
            {
                "project_id": project_id,
                "agent_id": agent,
                "status": status,
                "task": task,
                "phase": phase,
                "progress": progress,
            }
        ),
    )


def button(label: str, command: str, style: str = "secondary") -> Button:
    """A button that sends `command`."""
    slug = "".join(ch if ch.isalnum() else "-" for ch in command.strip("/")).strip("-")
    return Button.model_validate(
        {"id": slug or "button", "label": label, "style": style, "command": command}
    )
