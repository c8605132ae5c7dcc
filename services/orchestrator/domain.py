"""What each command does: from a command and the stored state to writes and events."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from services.common.contracts import (
    ChatMessageData,
    ChatMessageEvent,
    CommandEnvelope,
    CommandResultData,
    CommandResultEvent,
    DomainEvent,
    StateChangeData,
    StateChangeEvent,
    channel_topic,
    project_topic,
    user_topic,
)
from services.common.store import Entity, Store, Write

from .parsing import CommandError, ParsedCommand, parse
from .projects import EPIC, PROJECT, can_access, new_project, slugify, visible_projects
from .workflow import COMMANDS, State, allowed_commands, rejection


@dataclass
class Outcome:
    """The writes a command makes and the events it emits, committed together."""

    writes: list[Write] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)


class Context:
    """One command being handled: who sent it, and helpers to answer."""

    def __init__(self, envelope: CommandEnvelope, outcome: Outcome) -> None:
        self.envelope = envelope
        self.outcome = outcome
        self.now = time.time()

    def _event_id(self) -> str:
        # Deterministic, so handling a redelivered command again yields the same ids.
        return f"{self.envelope.command_id}:{len(self.outcome.events)}"

    def reply(
        self,
        command: str,
        *,
        ok: bool,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        hint: str | None = None,
        project: Entity | None = None,
    ) -> None:
        """Answer the sender with `command_result`."""
        state = None if project is None else State(project.state["state"])
        admin = "admin" in self.envelope.user.roles
        self.outcome.events.append(
            CommandResultEvent(
                event="command_result",
                id=self._event_id(),
                topic=user_topic(self.envelope.user.id),
                correlation_id=self.envelope.command_id,
                occurred_at=self.now,
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
                    else tuple(allowed_commands(state, admin=admin)),
                ),
            )
        )

    def transition(self, project: Entity, new_state: State, reason: str) -> dict[str, Any]:
        """Move a project to `new_state`; return its new state dict (to be written)."""
        old_state = project.state["state"]
        updated = {**project.state, "state": new_state.value}
        if old_state != new_state.value:
            self.outcome.events.append(
                StateChangeEvent(
                    event="state_change",
                    id=self._event_id(),
                    topic=project_topic(project.key),
                    correlation_id=self.envelope.command_id,
                    occurred_at=self.now,
                    data=StateChangeData(
                        project_id=project.key,
                        old_state=old_state,
                        new_state=new_state.value,
                        reason=reason,
                    ),
                )
            )
        return updated

    def post(self, project_id: str, channel: str, text: str) -> None:
        """A chat message in a channel, from the sender."""
        self.outcome.events.append(
            ChatMessageEvent(
                event="message",
                id=self._event_id(),
                topic=channel_topic(project_id, channel),
                correlation_id=self.envelope.command_id,
                occurred_at=self.now,
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


Handler = Callable[[Context, ParsedCommand, Entity | None], Awaitable[None]]


class Domain:
    """Handles commands against the store. Pure apart from reads: writes go in the outcome."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._handlers: dict[str, Handler] = {
            "/help": self._help,
            "/state": self._state,
            "/project register": self._project_register,
            "/project list": self._project_list,
            "/epic": self._epic,
        }

    async def handle(self, envelope: CommandEnvelope) -> Outcome:
        """Decide what the command or chat message does."""
        ctx = Context(envelope, Outcome())
        if envelope.kind == "message":
            await self._message(ctx)
        else:
            await self._command(ctx)
        return ctx.outcome

    async def _project(self, ctx: Context, command: str) -> Entity | None:
        """The command's project if it exists and the sender may use it; else reply and None."""
        project_id = ctx.envelope.project_id
        if project_id is None:
            ctx.reply(
                command,
                ok=False,
                error=f"{command} needs a project",
                hint="Join a project channel first, or create one with /project register <name>",
            )
            return None
        project = await self._store.get(PROJECT, project_id)
        if project is None or not can_access(project, ctx.envelope.user):
            ctx.reply(
                command,
                ok=False,
                error=f"Project {project_id} not found",
                hint="Use /project list to see your projects",
            )
            return None
        return project

    async def _message(self, ctx: Context) -> None:
        envelope = ctx.envelope
        project = await self._project(ctx, "message")
        if project is None:
            return
        channel = envelope.channel or ""
        if channel not in project.state["channels"]:
            ctx.reply("message", ok=False, error=f"Channel #{channel} not found", project=project)
            return
        ctx.post(project.key, channel, envelope.text)

    async def _command(self, ctx: Context) -> None:
        try:
            parsed = parse(ctx.envelope.text)
        except CommandError as exc:
            # "unknown" rather than what was typed keeps metric labels bounded.
            ctx.reply("unknown", ok=False, error=exc.error, hint=exc.hint)
            return
        spec = parsed.spec
        if spec.admin_only and "admin" not in ctx.envelope.user.roles:
            ctx.reply(spec.name, ok=False, error=f"{spec.name} is for admins only")
            return
        project = None
        if spec.needs_project:
            project = await self._project(ctx, spec.name)
            if project is None:
                return
            state = State(project.state["state"])
            if state not in spec.allowed_in:
                error, hint = rejection(spec, state)
                ctx.reply(spec.name, ok=False, error=error, hint=hint, project=project)
                return
        elif ctx.envelope.project_id is not None:
            project = await self._store.get(PROJECT, ctx.envelope.project_id)
            if project is not None and not can_access(project, ctx.envelope.user):
                project = None
        handler = self._handlers.get(spec.name)
        if handler is None:
            ctx.reply(
                spec.name,
                ok=False,
                error=f"{spec.name} is not available yet",
                hint="Use /help to see what works today",
                project=project,
            )
            return
        await handler(ctx, parsed, project)

    async def _help(self, ctx: Context, parsed: ParsedCommand, project: Entity | None) -> None:
        if parsed.args:
            wanted = " ".join(parsed.args)
            wanted = wanted if wanted.startswith("/") else "/" + wanted
            matches = [
                s for s in COMMANDS.values() if s.name == wanted or s.name.startswith(wanted + " ")
            ]
            if not matches:
                ctx.reply(
                    "/help",
                    ok=False,
                    error=f"Unknown command: {wanted}",
                    hint="Use /help to list every command",
                    project=project,
                )
                return
        else:
            matches = list(COMMANDS.values())
        commands = [
            {
                "command": s.name,
                "usage": s.usage,
                "description": s.description,
                "allowed_in": [state.value for state in State if state in s.allowed_in],
                "admin_only": s.admin_only,
            }
            for s in matches
        ]
        lines = [f"{s.usage} — {s.description}" for s in matches]
        ctx.reply(
            "/help",
            ok=True,
            result={"commands": commands, "message": "\n".join(lines)},
            project=project,
        )

    async def _state(self, ctx: Context, parsed: ParsedCommand, project: Entity | None) -> None:
        assert project is not None
        state = State(project.state["state"])
        allowed = allowed_commands(state, admin="admin" in ctx.envelope.user.roles)
        ctx.reply(
            "/state",
            ok=True,
            result={
                "state": state.value,
                "allowed_commands": allowed,
                "pending_approvals": [],
                "message": f"{project.key} is {state.value}. Allowed now: {', '.join(allowed)}",
            },
            project=project,
        )

    async def _project_register(
        self, ctx: Context, parsed: ParsedCommand, project: Entity | None
    ) -> None:
        name = " ".join(parsed.args).strip()
        if not name:
            ctx.reply(
                "/project register",
                ok=False,
                error="Project name is required",
                hint="Use /project register <name>",
            )
            return
        project_id = slugify(name)
        if not project_id:
            ctx.reply(
                "/project register",
                ok=False,
                error=f"Project name {name!r} has no letters or digits",
                hint="Use letters, digits and dashes",
            )
            return
        if await self._store.get(PROJECT, project_id) is not None:
            ctx.reply(
                "/project register",
                ok=False,
                error=f"Project {project_id} already exists",
                hint="Pick another name, or use /project list",
            )
            return
        state = new_project(project_id, name, ctx.envelope.user)
        ctx.outcome.writes.append(Write(PROJECT, project_id, state, expected_version=0))
        ctx.reply(
            "/project register",
            ok=True,
            result={
                "project_id": project_id,
                "name": name,
                "channels": state["channels"],
                "state": state["state"],
                "message": f"Project {project_id} registered with #general",
            },
        )

    async def _project_list(
        self, ctx: Context, parsed: ParsedCommand, project: Entity | None
    ) -> None:
        projects = await visible_projects(self._store, ctx.envelope.user)
        listed = [
            {
                "id": p.key,
                "name": p.state["name"],
                "state": p.state["state"],
                "channels": p.state["channels"],
            }
            for p in projects
        ]
        message = "\n".join(f"{p['id']} ({p['state']})" for p in listed) or "No projects yet"
        ctx.reply("/project list", ok=True, result={"projects": listed, "message": message})

    async def _epic(self, ctx: Context, parsed: ParsedCommand, project: Entity | None) -> None:
        assert project is not None
        title = " ".join(parsed.args).strip()
        if not title:
            ctx.reply(
                "/epic",
                ok=False,
                error="Epic description is required",
                hint='Use /epic "<description>"',
                project=project,
            )
            return
        number = int(project.state.get("epic_seq", 0)) + 1
        epic_id = f"E{number}"
        epic = {
            "id": epic_id,
            "project_id": project.key,
            "title": title,
            "stories": [],
            "created_by": ctx.envelope.user.id,
            "created_at": ctx.now,
        }
        updated = ctx.transition(project, State.BACKLOG_READY, "/epic")
        updated["epic_seq"] = number
        ctx.outcome.writes += [
            Write(PROJECT, project.key, updated, expected_version=project.version),
            Write(EPIC, f"{project.key}:{epic_id}", epic, expected_version=0),
        ]
        after = Entity(PROJECT, project.key, project.version + 1, updated)
        ctx.reply(
            "/epic",
            ok=True,
            result={
                "epic_id": epic_id,
                "title": title,
                "message": f"Epic {epic_id} created: {title}",
            },
            project=after,
        )
