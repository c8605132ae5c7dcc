"""Sprint commands: /sprint *, /suggest_fix, /skip_task, /feedback, /request_changes."""

from __future__ import annotations

from typing import Any

from services.common.access import PROJECT

from .agents.provider import agent_for
from .context import Context, button
from .flow import (
    advance,
    begin,
    load_sprint,
    save_sprint,
    save_sprint_and_project,
    sprint_or_fail,
    start_phase,
)
from .handlers import Handler
from .model import (
    BACKLOG,
    SPRINT,
    find,
    new_backlog,
    new_sprint,
    new_story,
    sprint_key,
    story_order,
    task_counts,
)
from .workflow import State

MAX_SPRINT_STORIES = 5


async def plan(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    """Create a sprint from the given approved stories, or the highest-priority ones."""
    assert project is not None
    backlog = await ctx.unit.get(BACKLOG, project["id"]) or new_backlog()
    approved = [s for s in backlog["stories"] if s["status"] == "approved"]
    if args:
        chosen = []
        for story_id in dict.fromkeys(arg.upper() for arg in args):
            story = find(backlog["stories"], story_id)
            if story is None:
                ctx.fail(
                    "/sprint plan", f"Story {story_id} not found", "Use /backlog view", project
                )
                return
            if story["status"] != "approved":
                ctx.fail(
                    "/sprint plan",
                    f"Story {story['id']} is {story['status']}, not approved",
                    "Approve it first with /approve",
                    project,
                )
                return
            chosen.append(story)
    else:
        chosen = sorted(approved, key=story_order)[:MAX_SPRINT_STORIES]
    if not chosen:
        ctx.fail(
            "/sprint plan",
            "No approved stories to plan",
            "Use /approve to approve proposed stories, or /backlog add_story",
            project,
        )
        return
    project["sprint_seq"] += 1
    sprint = new_sprint(f"SP{project['sprint_seq']}", project["id"], chosen)
    for story in chosen:
        story["status"] = "planned"
    project["active_sprint"] = sprint["id"]
    ctx.transition(project, State.SPRINT_PLANNED, "/sprint plan")
    await ctx.unit.get(SPRINT, sprint_key(project["id"], sprint["id"]))
    save_sprint(ctx, project, sprint)
    ctx.unit.put(BACKLOG, project["id"], backlog)
    ctx.unit.put(PROJECT, project["id"], project)
    lines = [f"{t['id']}: {t['title']} ({t['story_id']})" for t in sprint["tasks"]]
    ctx.reply(
        "/sprint plan",
        ok=True,
        project=project,
        result={
            "sprint_id": sprint["id"],
            "tasks": [
                {"id": t["id"], "story_id": t["story_id"], "title": t["title"]}
                for t in sprint["tasks"]
            ],
            "message": f"Sprint {sprint['id']} planned:\n" + "\n".join(lines),
        },
        elements=[button("Start sprint", "/sprint start", "primary")],
    )


async def start(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    sprint = await sprint_or_fail(ctx, project, "/sprint start", "No sprint planned")
    if sprint is None:
        return
    sprint["status"] = "active"
    sprint["started_at"] = ctx.now
    ctx.transition(project, State.SPRINT_ACTIVE, "/sprint start")
    note = " Each task waits for /approve (blocking mode)." if project["mode"] == "blocking" else ""
    # Everyone in the project hears of it, before the first task's own notices.
    assert ctx.envelope is not None
    count = len(sprint["tasks"])
    tasks = "1 task is" if count == 1 else f"{count} tasks are"
    ctx.notify(
        project["id"],
        "success",
        f"Sprint {sprint['id']} started",
        f"{ctx.envelope.user.username} started sprint {sprint['id']}: {tasks} now active.{note}",
        [button("Sprint status", "/sprint status"), button("Pause sprint", "/sprint pause")],
    )
    await advance(ctx, project, sprint)
    save_sprint_and_project(ctx, project, sprint)
    ctx.reply(
        "/sprint start",
        ok=True,
        project=project,
        result={"sprint_id": sprint["id"], "message": f"Sprint {sprint['id']} started.{note}"},
    )


async def status(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    sprint = await sprint_or_fail(ctx, project, "/sprint status", "No sprint")
    if sprint is None:
        return
    counts = task_counts(sprint)
    spent = (
        0.0
        if sprint["started_at"] is None
        else (sprint["ended_at"] or ctx.now) - sprint["started_at"]
    )
    tasks = [
        {
            "id": t["id"],
            "title": t["title"],
            "status": t["status"],
            "phase": t["phase"],
            "failures": t["failures"],
            "error": t["error"],
        }
        for t in sprint["tasks"]
    ]
    pending = [t["id"] for t in sprint["tasks"] if t["status"] == "waiting_approval"]
    lines = [
        f"{t['id']} {t['status']}" + (f" ({t['phase']})" if t["phase"] else "") + f": {t['title']}"
        for t in tasks
    ]
    summary = (
        f"Sprint {sprint['id']} {sprint['status']}: {counts.get('done', 0)} done, "
        f"{counts.get('failed', 0)} failed, {counts.get('running', 0)} running, "
        f"{len(pending)} waiting for approval; {spent:.0f} s spent"
    )
    ctx.reply(
        "/sprint status",
        ok=True,
        project=project,
        result={
            "sprint_id": sprint["id"],
            "status": sprint["status"],
            "tasks": tasks,
            "done": counts.get("done", 0),
            "failed": counts.get("failed", 0),
            "running": counts.get("running", 0),
            "pending_approvals": pending,
            "time_spent_s": round(spent, 1),
            "message": summary + "\n" + "\n".join(lines),
        },
        elements=[button(f"Approve {t}", f"/approve {t}", "success") for t in pending],
    )


async def pause(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    sprint = await sprint_or_fail(ctx, project, "/sprint pause", "No sprint")
    if sprint is None:
        return
    sprint["status"] = "paused"
    ctx.transition(project, State.SPRINT_PAUSED, "/sprint pause")
    save_sprint_and_project(ctx, project, sprint)
    ctx.reply(
        "/sprint pause",
        ok=True,
        project=project,
        result={
            "sprint_id": sprint["id"],
            "message": "Sprint paused: agents stop at the next phase boundary",
        },
        elements=[button("Resume", "/sprint resume", "primary")],
    )


async def resume(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    sprint = await sprint_or_fail(ctx, project, "/sprint resume", "No sprint")
    if sprint is None:
        return
    sprint["status"] = "active"
    ctx.transition(project, State.SPRINT_ACTIVE, "/sprint resume")
    parked = [t for t in sprint["tasks"] if t["status"] == "paused"]
    for task in parked:
        await begin(ctx, project, sprint, task, task["phase"])
    if not parked:
        await advance(ctx, project, sprint)
    save_sprint_and_project(ctx, project, sprint)
    ctx.reply(
        "/sprint resume",
        ok=True,
        project=project,
        result={"sprint_id": sprint["id"], "message": "Sprint resumed"},
    )


async def _blocked_task(
    ctx: Context, project: dict[str, Any], command: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    sprint = await load_sprint(ctx, project)
    failed = (
        None
        if sprint is None
        else next((t for t in sprint["tasks"] if t["status"] == "failed"), None)
    )
    if sprint is None or failed is None:
        ctx.fail(command, "No blocked task", "Use /sprint status", project)
        return None
    return sprint, failed


async def suggest_fix(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    hint = " ".join(args).strip()
    if not hint:
        ctx.fail("/suggest_fix", "A hint is required", '/suggest_fix "<what to try>"', project)
        return
    found = await _blocked_task(ctx, project, "/suggest_fix")
    if found is None:
        return
    sprint, task = found
    task["hint"] = hint
    task["failures"] = 0
    sprint["status"] = "active"  # a pause that came during the failing attempt ends here
    ctx.transition(project, State.SPRINT_ACTIVE, "/suggest_fix")
    await start_phase(ctx, project, sprint, task, task["phase"])
    save_sprint_and_project(ctx, project, sprint)
    ctx.reply(
        "/suggest_fix",
        ok=True,
        project=project,
        result={
            "task": task["id"],
            "message": f"Retrying {task['id']} {task['phase']} with your hint",
        },
    )


async def skip_task(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    found = await _blocked_task(ctx, project, "/skip_task")
    if found is None:
        return
    sprint, task = found
    task["status"] = "skipped"
    task["finished_at"] = ctx.now
    sprint["status"] = "active"
    backlog = await ctx.unit.get(BACKLOG, project["id"]) or new_backlog()
    story = find(backlog["stories"], task["story_id"])
    if story is not None:
        story["status"] = "approved"  # back to the backlog for a later sprint
        ctx.unit.put(BACKLOG, project["id"], backlog)
    ctx.transition(project, State.SPRINT_ACTIVE, "/skip_task")
    await ctx.set_agent(project["id"], agent_for(task["phase"], task["title"]), "idle")
    await advance(ctx, project, sprint)
    save_sprint_and_project(ctx, project, sprint)
    ctx.reply(
        "/skip_task",
        ok=True,
        project=project,
        result={
            "task": task["id"],
            "message": f"Skipped {task['id']}; its story is back in the backlog",
        },
    )


async def _close_sprint(
    ctx: Context, project: dict[str, Any], key: str, text: str
) -> dict[str, Any] | None:
    sprint = await load_sprint(ctx, project)
    if sprint is None:
        return None
    sprint["status"] = "closed"
    sprint[key] = text
    save_sprint(ctx, project, sprint)
    project["active_sprint"] = None
    return sprint


async def feedback(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    text = " ".join(args).strip()
    if not text:
        ctx.fail(
            "/feedback",
            "Feedback text is required",
            '/feedback "<what went well and what not>"',
            project,
        )
        return
    sprint = await _close_sprint(ctx, project, "retrospective", text)
    ctx.transition(project, State.IDLE, "/feedback")
    ctx.unit.put(PROJECT, project["id"], project)
    sprint_id = None if sprint is None else sprint["id"]
    ctx.reply(
        "/feedback",
        ok=True,
        project=project,
        result={
            "sprint_id": sprint_id,
            "message": f"Retrospective of {sprint_id} saved. Back to IDLE.",
        },
    )


async def request_changes(ctx: Context, args: list[str], project: dict[str, Any] | None) -> None:
    assert project is not None
    text = " ".join(args).strip()
    if not text:
        ctx.fail(
            "/request_changes",
            "Describe the changes you want",
            '/request_changes "<text>"',
            project,
        )
        return
    sprint = await _close_sprint(ctx, project, "changes_requested", text)
    backlog = await ctx.unit.get(BACKLOG, project["id"]) or new_backlog()
    project["story_seq"] += 1
    story = new_story(
        f"S{project['story_seq']}",
        text,
        epic_id=None,
        priority=1,
        description=f"Changes requested in review of {sprint['id'] if sprint else 'the sprint'}",
    )
    backlog["stories"].append(story)
    ctx.unit.put(BACKLOG, project["id"], backlog)
    ctx.transition(project, State.BACKLOG_READY, "/request_changes")
    ctx.unit.put(PROJECT, project["id"], project)
    ctx.reply(
        "/request_changes",
        ok=True,
        project=project,
        result={
            "story": story,
            "message": f"Added {story['id']} (top priority). Plan the next sprint.",
        },
        elements=[button("Plan a sprint", "/sprint plan", "primary")],
    )


HANDLERS: dict[str, Handler] = {
    "/sprint plan": plan,
    "/sprint start": start,
    "/sprint status": status,
    "/sprint pause": pause,
    "/sprint resume": resume,
    "/suggest_fix": suggest_fix,
    "/skip_task": skip_task,
    "/feedback": feedback,
    "/request_changes": request_changes,
}
