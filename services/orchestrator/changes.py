"""UI-initiated changes (`cmd.entity_change`): compare-and-set on the entity's aggregate.

The sync service has checked the change against its snapshot and sends the version it saw as
`expected_version`. Here the change is applied only if the aggregate is still at that version
(otherwise it is rejected as changed meanwhile), mapped onto the workflow where it must be:

- sprint `planned → active` is `/sprint start`, `active → paused` is `/sprint pause`,
  `paused → active` is `/sprint resume` (the same handlers, so the project state, the tasks
  and the agents follow); the other sprint transitions of the table are refused with the
  command to use instead;
- story `status`/`priority` and project `name`/`mode` are plain field updates (stories not
  while the sprint is in review, like `/backlog`);
- agent `status` is set on the agents aggregate.

The sender gets `state_change_confirmed` or `state_change_rejected`; the `state_changed`
events come from `Context.announce_changes` when the work is committed.
"""

from __future__ import annotations

from typing import Any, get_args

from services.common.access import PROJECT, can_access
from services.common.contracts import (
    AgentStatusData,
    ChangeEnvelope,
    CommandEnvelope,
    CommandResultEvent,
)
from services.common.entities import check_change, location, project_of, view
from services.common.store import Entity, Store

from .commands_sprint import HANDLERS as SPRINT_HANDLERS
from .context import Context
from .model import AGENT_STATE, BACKLOG, find
from .unit import Unit
from .workflow import COMMANDS, State, rejection

# Sprint status transitions the UI may make, and the command each one is.
SPRINT_COMMANDS: dict[tuple[str, str], str] = {
    ("planned", "active"): "/sprint start",
    ("active", "paused"): "/sprint pause",
    ("paused", "active"): "/sprint resume",
}
# Transitions of the seed's table that the workflow does not take from the UI, and why.
SPRINT_REFUSALS: dict[str, str] = {
    "completed": (
        "a sprint completes by itself when every task is done; then use /feedback or "
        "/request_changes to finish the review"
    ),
    "cancelled": (
        "sprints cannot be cancelled; use /sprint pause to stop the agents, or "
        "/feedback once the sprint is in review"
    ),
}
_AGENT_EVENT_STATUSES = frozenset(get_args(AgentStatusData.model_fields["status"].annotation))


class Rejected(Exception):
    """The change is refused; the message is the reason the sender gets."""


class EntityChanges:
    """Decides UI-initiated changes. Like `Domain`, it reads; writes go into the context."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _context(self, envelope: ChangeEnvelope) -> Context:
        change = envelope.change
        # The workflow's handlers answer a command's sender: give them the change as one.
        as_command = CommandEnvelope(
            command_id=envelope.request_id,
            kind="command",
            user=envelope.user,
            session_id=envelope.session_id,
            text=f"state_change {change.entity_type}.{change.field}",
            project_id=project_of(change.entity_id),
            issued_at=envelope.issued_at,
        )
        ctx = Context(envelope.request_id, Unit(self._store), as_command)
        ctx.ui_change = (change.entity_type, change.entity_id, change.field)
        ctx.ui_source = f"ui:{envelope.session_id}"
        return ctx

    async def decide(self, envelope: ChangeEnvelope) -> Context:
        """Apply the change with compare-and-set, or answer why not (may run again)."""
        ctx = self._context(envelope)
        try:
            version = await self._apply(ctx, envelope)
        except Rejected as refused:
            # Start over: nothing the attempt wrote or announced may be committed.
            ctx = self._context(envelope)
            ctx.reject_change(
                envelope.user.id,
                envelope.session_id,
                envelope.change.change_id,
                str(refused),
                envelope.ref,
            )
            return ctx
        ctx.confirm_change(
            envelope.user.id, envelope.session_id, envelope.change.change_id, version, envelope.ref
        )
        return ctx

    async def _apply(self, ctx: Context, envelope: ChangeEnvelope) -> int:
        """Make the change in the unit; return the aggregate's version once it is committed."""
        change = envelope.change
        name = f"{change.entity_type} {change.entity_id}"
        project = await ctx.unit.get(PROJECT, project_of(change.entity_id))
        if project is None or not can_access(
            Entity(PROJECT, project["id"], 0, project), envelope.user
        ):
            raise Rejected(f"{name} not found")
        project.setdefault("mode", "blocking")
        where = location(change.entity_type, change.entity_id)
        if where is None:
            raise Rejected(f"{name} not found")
        kind, key = where
        aggregate = await ctx.unit.get(kind, key)
        current = view(change.entity_type, change.entity_id, aggregate)
        if aggregate is None or not current:
            raise Rejected(f"{name} not found")
        version = ctx.unit.version(kind, key)
        if envelope.expected_version is None or version != envelope.expected_version:
            raise Rejected(
                f"{name} changed meanwhile (version {version}, the change expected "
                f"{envelope.expected_version}); refresh and try again"
            )
        # The version is the one the sync service checked, so this holds unless it was bypassed.
        problem = check_change(
            change.entity_type, change.field, change.old_value, change.new_value, current
        )
        if problem is not None:
            raise Rejected(problem)
        if change.entity_type == "sprint":
            await self._sprint(ctx, project, change.old_value, change.new_value)
        elif change.entity_type == "project":
            project[change.field] = change.new_value
            ctx.unit.put(PROJECT, project["id"], project)
        elif change.entity_type == "story":
            self._story(ctx, project, aggregate, change.entity_id, change.field, change.new_value)
        elif change.entity_type == "agent":
            self._agent(ctx, project, aggregate, change.entity_id, change.new_value)
        else:
            raise Rejected(f"{change.entity_type}s cannot be changed")
        return version + 1

    async def _sprint(self, ctx: Context, project: dict[str, Any], old: Any, new: Any) -> None:
        command = SPRINT_COMMANDS.get((old, new))
        if command is None:
            raise Rejected(
                SPRINT_REFUSALS.get(new, f"a sprint cannot go from {old} to {new}")
                + f" ({old} → {new} is not done from the UI)"
            )
        assert ctx.ui_change is not None
        if project.get("active_sprint") != ctx.ui_change[1].split(":", 1)[1]:
            raise Rejected(f"{ctx.ui_change[1]} is not the project's current sprint")
        spec = COMMANDS[command]
        state = State(project["state"])
        if state not in spec.allowed_in:
            error, hint = rejection(spec, state)
            raise Rejected(f"{error}. {hint}")
        await SPRINT_HANDLERS[command](ctx, [], project)
        # The handler answered like a command; turn its answer into the change's answer.
        result = next(e for e in ctx.outcome.events if isinstance(e, CommandResultEvent))
        ctx.outcome.events.remove(result)
        if not result.data.ok:
            raise Rejected(f"{result.data.error}. {result.data.hint or ''}".strip())

    def _story(
        self,
        ctx: Context,
        project: dict[str, Any],
        backlog: dict[str, Any],
        entity_id: str,
        field: str,
        value: Any,
    ) -> None:
        if project["state"] == State.SPRINT_REVIEW.value:
            raise Rejected(
                "Backlog modifications not allowed during sprint review. "
                "Use /feedback or /request_changes to finish the review first."
            )
        story = find(backlog["stories"], entity_id.split(":", 1)[1])
        assert story is not None  # `view` found it
        story[field] = value
        ctx.unit.put(BACKLOG, project["id"], backlog)

    def _agent(
        self,
        ctx: Context,
        project: dict[str, Any],
        agents: dict[str, Any],
        entity_id: str,
        status: Any,
    ) -> None:
        agent = entity_id.split(":", 1)[1]
        info = agents[agent]
        info["status"] = status
        ctx.unit.put(AGENT_STATE, project["id"], agents)
        if status in _AGENT_EVENT_STATUSES:  # `error` has no agent_status of its own
            ctx.announce_agent(
                project["id"],
                agent,
                status,
                task=info.get("task"),
                phase=info.get("phase"),
                progress=info.get("progress"),
            )
