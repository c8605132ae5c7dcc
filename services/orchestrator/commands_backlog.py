"""Backlog commands: /epic, /approve, /backlog view|add_story|prioritize|remove."""

from __future__ import annotations

from typing import Any

from services.common.access import PROJECT
from services.common.contracts import StepEnvelope

from .context import Context, button
from .flow import begin, load_sprint, save_sprint
from .handlers import Handler
from .model import BACKLOG, find, new_backlog, new_story, parse_priority, story_order
from .workflow import State

NOTHING_PENDING = ("No items pending approval", "No items pending approval. Use /sprint status.")
# BACKLOG_READY: /sprint status is refused there, so the hint names what comes next instead.
NO_STORY_PENDING = (
    "No items pending approval",
    "No proposed story waits for approval. Next: /sprint plan, or /backlog view.",
)


async def _backlog(ctx: Context, project: dict[str, Any]) -> dict[str, Any]:
    return await ctx.unit.get(BACKLOG, project["id"]) or new_backlog()


async def epic(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    """Create an epic and ask the DesignAgent for stories."""
    assert project is not None
    title = " ".join(args).strip()
    if not title:
        ctx.fail("/epic", "Epic description is required", 'Use /epic "<description>"', project)
        return
    backlog = await _backlog(ctx, project)
    project["epic_seq"] += 1
    epic_id = f"E{project['epic_seq']}"
    backlog["epics"].append({"id": epic_id, "title": title, "created_at": ctx.now, "stories": []})
    ctx.transition(project, State.BACKLOG_READY, "/epic")
    ctx.unit.put(PROJECT, project["id"], project)
    ctx.unit.put(BACKLOG, project["id"], backlog)
    ctx.schedule(
        StepEnvelope(
            step_id=f"{ctx.token}:propose",
            kind="propose_stories",
            project_id=project["id"],
            epic_id=epic_id,
        )
    )
    await ctx.set_agent(project["id"], "DesignAgent", "working", task=epic_id, phase="DESIGN")
    ctx.reply(
        "/epic",
        ok=True,
        project=project,
        result={
            "epic_id": epic_id,
            "title": title,
            "message": f"Epic {epic_id} created: {title}. DesignAgent is proposing stories.",
        },
    )


async def approve(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    """Approve proposed stories (backlog) or tasks waiting at a gate (sprint)."""
    assert project is not None
    wanted = {arg.upper() for arg in args}
    if project["state"] == State.BACKLOG_READY.value:
        backlog = await _backlog(ctx, project)
        proposed = [s for s in backlog["stories"] if s["status"] == "proposed"]
        chosen = [s for s in proposed if not wanted or s["id"].upper() in wanted]
        unknown = sorted(wanted - {s["id"].upper() for s in proposed})
        if unknown:
            ctx.fail(
                "/approve",
                f"Not pending approval: {', '.join(unknown)}",
                "Use /backlog view to see proposed stories",
                project,
            )
            return
        if not chosen:
            ctx.fail("/approve", *NO_STORY_PENDING, project)
            return
        for story in chosen:
            story["status"] = "approved"
        ctx.unit.put(BACKLOG, project["id"], backlog)
        ids = [s["id"] for s in chosen]
        ctx.reply(
            "/approve",
            ok=True,
            project=project,
            result={"approved": ids, "message": f"Approved {', '.join(ids)}. Next: /sprint plan"},
            elements=[button("Plan a sprint", "/sprint plan", "primary")],
        )
        return
    sprint = await load_sprint(ctx, project)
    waiting = (
        [] if sprint is None else [t for t in sprint["tasks"] if t["status"] == "waiting_approval"]
    )
    chosen = [t for t in waiting if not wanted or t["id"].upper() in wanted]
    unknown = sorted(wanted - {t["id"].upper() for t in waiting})
    if unknown and waiting:
        pending = ", ".join(t["id"] for t in waiting)
        ctx.fail(
            "/approve",
            f"Not pending approval: {', '.join(unknown)}",
            f"Waiting for approval now: {pending}",
            project,
        )
        return
    if unknown or not chosen:
        ctx.fail("/approve", *NOTHING_PENDING, project)
        return
    assert sprint is not None
    for task in chosen:
        task.setdefault("gates_passed", []).append(task.pop("waiting_gate", "start"))
        if sprint["status"] == "active":
            await begin(ctx, project, sprint, task, task["phase"])
        else:
            task["status"] = "paused"
    save_sprint(ctx, project, sprint)
    ids = [t["id"] for t in chosen]
    ctx.reply(
        "/approve",
        ok=True,
        project=project,
        result={"approved": ids, "message": f"Approved {', '.join(ids)}; the agents are on it"},
    )


async def view(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    backlog = await _backlog(ctx, project)
    stories = sorted(backlog["stories"], key=story_order)
    lines = [f"{e['id']} {e['title']}" for e in backlog["epics"]]
    lines += [f"  {s['id']} [P{s['priority']}] {s['title']} ({s['status']})" for s in stories]
    ctx.reply(
        "/backlog view",
        ok=True,
        project=project,
        result={
            "epics": backlog["epics"],
            "stories": stories,
            "message": "\n".join(lines) or "The backlog is empty. Start with /epic",
        },
    )


async def add_story(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    if not args or not args[0].strip():
        ctx.fail(
            "/backlog add_story",
            "Story title is required",
            '/backlog add_story "<title>" [priority]',
            project,
        )
        return
    priority = 3
    if len(args) > 1:
        parsed = parse_priority(args[1])
        if parsed is None:
            ctx.fail(
                "/backlog add_story",
                f"Priority {args[1]!r} is not 1-5 or top/high/medium/low",
                '/backlog add_story "<title>" [priority]',
                project,
            )
            return
        priority = parsed
    backlog = await _backlog(ctx, project)
    project["story_seq"] += 1
    story = new_story(f"S{project['story_seq']}", args[0].strip(), epic_id=None, priority=priority)
    backlog["stories"].append(story)
    ctx.unit.put(PROJECT, project["id"], project)
    ctx.unit.put(BACKLOG, project["id"], backlog)
    # Everyone in the project hears of it: a new card that no board follows yet.
    assert ctx.envelope is not None
    ctx.notify(
        project["id"],
        "info",
        f"Story {story['id']} added",
        f"{ctx.envelope.user.username} added {story['id']}: {story['title']} (P{priority})",
    )
    ctx.reply(
        "/backlog add_story",
        ok=True,
        project=project,
        result={"story": story, "message": f"Added {story['id']}: {story['title']} (P{priority})"},
    )


async def prioritize(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    usage = "/backlog prioritize <story id> <1-5|top|high|medium|low>"
    if len(args) != 2:
        ctx.fail("/backlog prioritize", "Story id and priority are required", usage, project)
        return
    priority = parse_priority(args[1])
    if priority is None:
        ctx.fail(
            "/backlog prioritize",
            f"Priority {args[1]!r} is not 1-5 or top/high/medium/low",
            usage,
            project,
        )
        return
    backlog = await _backlog(ctx, project)
    story = find(backlog["stories"], args[0])
    if story is None:
        ctx.fail("/backlog prioritize", f"Story {args[0]} not found", "Use /backlog view", project)
        return
    story["priority"] = priority
    ctx.unit.put(BACKLOG, project["id"], backlog)
    ctx.reply(
        "/backlog prioritize",
        ok=True,
        project=project,
        result={"story": story, "message": f"{story['id']} is now P{priority}"},
    )


async def remove(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    if len(args) != 1:
        ctx.fail("/backlog remove", "Story id is required", "/backlog remove <story id>", project)
        return
    backlog = await _backlog(ctx, project)
    story = find(backlog["stories"], args[0])
    if story is None:
        ctx.fail("/backlog remove", f"Story {args[0]} not found", "Use /backlog view", project)
        return
    if story["status"] in ("planned", "in_sprint"):
        ctx.fail(
            "/backlog remove",
            f"Story {story['id']} is in the current sprint",
            "Finish or skip its task first",
            project,
        )
        return
    backlog["stories"].remove(story)
    for item in backlog["epics"]:
        if story["id"] in item["stories"]:
            item["stories"].remove(story["id"])
    ctx.unit.put(BACKLOG, project["id"], backlog)
    ctx.reply(
        "/backlog remove",
        ok=True,
        project=project,
        result={"removed": story["id"], "message": f"Removed {story['id']}: {story['title']}"},
    )


HANDLERS: dict[str, Handler] = {
    "/epic": epic,
    "/approve": approve,
    "/backlog view": view,
    "/backlog add_story": add_story,
    "/backlog prioritize": prioritize,
    "/backlog remove": remove,
}
