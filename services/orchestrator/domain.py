"""Commands in, decisions out: parse, check permission and state, run the handler."""

from __future__ import annotations

import logging
from typing import Any

from services.common.access import PROJECT, can_access
from services.common.contracts import CommandEnvelope
from services.common.store import Entity, Store
from services.common.validation import dangerous

from . import commands_backlog, commands_project, commands_sprint
from .context import Context
from .handlers import Handler, Runtime
from .parsing import CommandError, parse
from .unit import Unit
from .workflow import State, rejection

log = logging.getLogger(__name__)


class Domain:
    """Decides what commands do. It reads the store; writes and events go into the context."""

    def __init__(self, store: Store, runtime: Runtime) -> None:
        self._store = store
        self._handlers: dict[str, Handler] = {
            **commands_project.handlers(runtime),
            **commands_backlog.HANDLERS,
            **commands_sprint.HANDLERS,
        }

    async def handle(self, envelope: CommandEnvelope) -> Context:
        """Decide what a command or chat message does."""
        ctx = Context(envelope.command_id, Unit(self._store), envelope)
        if envelope.kind == "message":
            await self._message(ctx)
        else:
            await self._command(ctx)
        return ctx

    async def project_for(self, ctx: Context, command: str) -> dict[str, Any] | None:
        """The sender's project if it exists and they may use it; else answer and return None."""
        assert ctx.envelope is not None
        project_id = ctx.envelope.project_id
        if project_id is None:
            ctx.fail(
                command,
                f"{command} needs a project",
                "Join a project channel first, or create one with /project register <name>",
            )
            return None
        project = await ctx.unit.get(PROJECT, project_id)
        if project is None or not can_access(
            Entity(PROJECT, project_id, 0, project), ctx.envelope.user
        ):
            ctx.fail(
                command, f"Project {project_id} not found", "Use /project list to see your projects"
            )
            return None
        project.setdefault("mode", "blocking")
        return project

    async def _message(self, ctx: Context) -> None:
        assert ctx.envelope is not None
        project = await self.project_for(ctx, "message")
        if project is None:
            return
        channel = ctx.envelope.channel or ""
        if channel not in project["channels"]:
            ctx.fail("message", f"Channel #{channel} not found", project=project)
            return
        ctx.chat(project["id"], channel, ctx.envelope.text)

    async def _command(self, ctx: Context) -> None:
        assert ctx.envelope is not None
        danger = dangerous(ctx.envelope.text)
        if danger is not None:
            # The gateway refuses these first; this guards every other way in (HTTP, the bus).
            log.warning("dangerous command refused (%s) from %s", danger, ctx.envelope.user.id)
            ctx.fail("unknown", f"Refused: the command contains a dangerous operation ({danger})")
            return
        try:
            parsed = parse(ctx.envelope.text)
        except CommandError as exc:
            # "unknown" rather than what was typed keeps metric labels bounded.
            ctx.fail("unknown", exc.error, exc.hint)
            return
        spec = parsed.spec
        if spec.admin_only and not ctx.is_admin:
            ctx.fail(spec.name, f"{spec.name} is for admins only")
            return
        project = None
        if spec.needs_project:
            project = await self.project_for(ctx, spec.name)
            if project is None:
                return
            state = State(project["state"])
            if state not in spec.allowed_in:
                error, hint = rejection(spec, state)
                ctx.fail(spec.name, error, hint, project)
                return
        elif ctx.envelope.project_id is not None:
            found = await ctx.unit.get(PROJECT, ctx.envelope.project_id)
            if found is not None and can_access(
                Entity(PROJECT, found["id"], 0, found), ctx.envelope.user
            ):
                project = found
        await self._handlers[spec.name](ctx, parsed.args, project)
