"""Project and workspace commands: /help, /state, /project, /agents, /context, /status, /logs."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from services.common.access import PROJECT
from services.common.contracts import ChannelName
from services.common.member_index import MEMBER_PROJECTS, with_membership

from .context import Context, button
from .flow import load_sprint
from .handlers import Handler, Runtime
from .model import (
    AGENT_STATE,
    BACKLOG,
    MODES,
    new_agents,
    new_backlog,
    new_project,
    slugify,
    task_counts,
)
from .workflow import COMMANDS, State, allowed_commands

# A new channel's name must be one the gateway's frames accept.
CHANNEL_NAME = TypeAdapter[str](ChannelName)

# Commands worth a button under /state: they need no argument.
_BUTTONS = (
    "/sprint start",
    "/sprint status",
    "/sprint pause",
    "/sprint resume",
    "/approve",
    "/skip_task",
    "/backlog view",
    "/agents",
    "/context",
)


def handlers(runtime: Runtime) -> dict[str, Handler]:
    """The handlers of this module, by command."""

    async def help_(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
        if args:
            wanted = " ".join(args)
            wanted = wanted if wanted.startswith("/") else "/" + wanted
            specs = [
                s for s in COMMANDS.values() if s.name == wanted or s.name.startswith(wanted + " ")
            ]
            if not specs:
                ctx.fail(
                    "/help",
                    f"Unknown command: {wanted}",
                    "Use /help to list every command",
                    project,
                )
                return
        else:
            specs = list(COMMANDS.values())
        commands = [
            {
                "command": s.name,
                "usage": s.usage,
                "description": s.description,
                "allowed_in": [state.value for state in State if state in s.allowed_in],
                "admin_only": s.admin_only,
                "needs_project": s.needs_project,
            }
            for s in specs
        ]
        lines = [f"{s.usage} — {s.description}" for s in specs]
        if len(specs) == 1:
            states = [state.value for state in State if state in specs[0].allowed_in]
            lines.append("Allowed in: " + ", ".join(states))
        ctx.reply(
            "/help",
            ok=True,
            result={"commands": commands, "message": "\n".join(lines)},
            project=project,
        )

    async def state(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
        assert project is not None
        current = State(project["state"])
        pending = await pending_approvals(ctx, project)
        allowed = allowed_commands(current, admin=ctx.is_admin, approvals_pending=bool(pending))
        ctx.reply(
            "/state",
            ok=True,
            project=project,
            result={
                "state": current.value,
                "mode": project["mode"],
                "allowed_commands": allowed,
                "pending_approvals": pending,
                "message": f"{project['id']} is {current.value} ({project['mode']} mode). "
                f"Allowed now: {', '.join(allowed)}",
            },
            elements=[button(name, name) for name in _BUTTONS if name in allowed],
        )

    async def register(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
        name = " ".join(args).strip()
        if not name:
            ctx.fail(
                "/project register", "Project name is required", "Use /project register <name>"
            )
            return
        project_id = slugify(name)
        if not project_id:
            ctx.fail(
                "/project register",
                f"Project name {name!r} has no letters or digits",
                "Use letters, digits and dashes",
            )
            return
        if await ctx.unit.get(PROJECT, project_id) is not None:
            ctx.fail(
                "/project register",
                f"Project {project_id} already exists",
                "Pick another name, or use /project list",
            )
            return
        assert ctx.envelope is not None
        created = new_project(project_id, name, ctx.envelope.user)
        ctx.unit.put(PROJECT, project_id, created)
        owner = ctx.envelope.user.id
        index = await ctx.unit.get(MEMBER_PROJECTS, owner)
        ctx.unit.put(MEMBER_PROJECTS, owner, with_membership(index, project_id, member=True))
        await ctx.unit.get(BACKLOG, project_id)
        ctx.unit.put(BACKLOG, project_id, new_backlog())
        await ctx.unit.get(AGENT_STATE, project_id)
        ctx.unit.put(AGENT_STATE, project_id, new_agents())
        ctx.reply(
            "/project register",
            ok=True,
            project=created,
            result={
                "project_id": project_id,
                "name": name,
                "channels": created["channels"],
                "state": created["state"],
                "mode": created["mode"],
                "message": f"Project {project_id} registered with #general",
            },
        )

    async def list_(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
        assert ctx.envelope is not None
        listed = [
            {
                "id": p.key,
                "name": p.state["name"],
                "state": p.state["state"],
                "mode": p.state.get("mode", "blocking"),
                "channels": p.state["channels"],
            }
            for p in await runtime.projects_of(ctx.envelope.user)
        ]
        message = "\n".join(f"{p['id']} ({p['state']})" for p in listed) or "No projects yet"
        ctx.reply("/project list", ok=True, result={"projects": listed, "message": message})

    async def mode(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
        assert project is not None
        if len(args) != 1 or args[0] not in MODES:
            ctx.fail(
                "/project mode",
                "Mode must be one of " + ", ".join(MODES),
                "Use /project mode blocking|partial|autonomous",
                project,
            )
            return
        project["mode"] = args[0]
        ctx.unit.put(PROJECT, project["id"], project)
        ctx.reply(
            "/project mode",
            ok=True,
            project=project,
            result={"mode": args[0], "message": f"{project['id']} is now in {args[0]} mode"},
        )

    async def channel_create(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
        assert project is not None
        usage = "Use /channel create <name>, e.g. /channel create design"
        if len(args) != 1:
            ctx.fail("/channel create", "Give the new channel's name, one word", usage, project)
            return
        name = args[0].lstrip("#")
        try:
            CHANNEL_NAME.validate_python(name)
        except ValidationError:
            ctx.fail(
                "/channel create",
                f"#{name[:64]} is not a channel name",
                "Use up to 64 lowercase letters, digits, - and _, starting with a letter or digit",
                project,
            )
            return
        if name in project["channels"]:
            ctx.fail(
                "/channel create", f"#{name} already exists", "Open it from the sidebar", project
            )
            return
        if len(project["channels"]) >= runtime.max_channels:
            ctx.fail(
                "/channel create",
                f"{project['id']} has {len(project['channels'])} channels, the most it may have",
                "Use one of them; the limit is HUDDLE_MAX_CHANNELS_PER_PROJECT",
                project,
            )
            return
        project["channels"] = [*project["channels"], name]
        ctx.unit.put(PROJECT, project["id"], project)
        ctx.channel_created(project["id"], name)
        ctx.reply(
            "/channel create",
            ok=True,
            project=project,
            result={
                "project_id": project["id"],
                "channel": name,
                "channels": project["channels"],
                "message": f"#{name} created in {project['id']}",
            },
        )

    async def agents(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
        assert project is not None
        states = await ctx.unit.get(AGENT_STATE, project["id"]) or new_agents()
        listed = [{"agent_id": name, **info} for name, info in states.items()]
        lines = [
            f"{a['agent_id']}: {a['status']}"
            + (f" on {a['task']} ({a['phase']})" if a.get("task") else "")
            for a in listed
        ]
        ctx.reply(
            "/agents",
            ok=True,
            project=project,
            result={"agents": listed, "pool_size": runtime.pool_size, "message": "\n".join(lines)},
        )

    async def context(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
        assert project is not None
        backlog = await ctx.unit.get(BACKLOG, project["id"]) or new_backlog()
        sprint = await load_sprint(ctx, project)
        stories: dict[str, int] = {}
        for story in backlog["stories"]:
            stories[story["status"]] = stories.get(story["status"], 0) + 1
        result = {
            "project_id": project["id"],
            "name": project["name"],
            "state": project["state"],
            "mode": project["mode"],
            "epics": len(backlog["epics"]),
            "stories": stories,
            "sprint": None
            if sprint is None
            else {"id": sprint["id"], "status": sprint["status"], "tasks": task_counts(sprint)},
        }
        summary = ", ".join(f"{n} {s}" for s, n in stories.items()) or "no stories"
        sprint_line = "no sprint" if sprint is None else f"sprint {sprint['id']} {sprint['status']}"
        result["message"] = (
            f"{project['name']} ({project['id']}): {project['state']}, {project['mode']} mode; "
            f"{len(backlog['epics'])} epics, {summary}; {sprint_line}"
        )
        ctx.reply("/context", ok=True, project=project, result=result)

    async def status(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
        info = runtime.status()
        message = ", ".join(f"{key}: {value}" for key, value in info.items())
        ctx.reply("/status", ok=True, project=project, result={**info, "message": message})

    async def logs(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
        lines = runtime.recent_logs()
        ctx.reply(
            "/logs",
            ok=True,
            project=project,
            result={"lines": lines, "message": "\n".join(lines) or "No log lines yet"},
        )

    return {
        "/help": help_,
        "/state": state,
        "/project register": register,
        "/channel create": channel_create,
        "/project list": list_,
        "/project mode": mode,
        "/agents": agents,
        "/context": context,
        "/status": status,
        "/logs": logs,
    }


async def pending_approvals(ctx: Context, project: dict[str, Any]) -> list[dict[str, str]]:
    """What `/approve` would approve now, as {kind, id, title}: stories or waiting tasks."""
    pending = []
    if project["state"] == State.BACKLOG_READY.value:
        backlog = await ctx.unit.get(BACKLOG, project["id"]) or new_backlog()
        return [
            {"kind": "story", "id": story["id"], "title": story["title"]}
            for story in backlog["stories"]
            if story["status"] == "proposed"
        ]
    sprint = await load_sprint(ctx, project)
    for task in [] if sprint is None else sprint["tasks"]:
        if task["status"] == "waiting_approval":
            pending.append({"kind": "task", "id": task["id"], "title": task["title"]})
    return pending
