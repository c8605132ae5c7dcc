"""How a sprint moves: tasks one after another through the TDD phases, gates and failures."""

from __future__ import annotations

from typing import Any

from services.common.contracts import StepEnvelope

from .agents.provider import PHASES, PhaseResult, agent_for
from .context import Context, button
from .model import BACKLOG, FINISHED, PROJECT, SPRINT, find, sprint_key
from .workflow import State


def overall_progress(phase: str, within: int = 0) -> int:
    """A task's progress in percent: each of the five phases is a fifth."""
    return min(100, PHASES.index(phase) * 20 + within // 5)


def next_phase(phase: str) -> str | None:
    index = PHASES.index(phase)
    return PHASES[index + 1] if index + 1 < len(PHASES) else None


def step_for(project_id: str, sprint_id: str, task: dict[str, Any]) -> StepEnvelope:
    """The step that runs the task's current phase; its id names this one attempt."""
    return StepEnvelope(
        step_id=f"{project_id}:{sprint_id}:{task['id']}:{task['step']}",
        kind="task_phase",
        project_id=project_id,
        sprint_id=sprint_id,
        task_id=task["id"],
        phase=task["phase"],
        attempt=task["attempts"],
    )


async def start_phase(
    ctx: Context, project: dict[str, Any], sprint: dict[str, Any], task: dict[str, Any], phase: str
) -> None:
    """Set the task running `phase` and schedule the step that does it."""
    task["status"] = "running"
    task["phase"] = phase
    task["step"] += 1
    task["started_at"] = task["started_at"] or ctx.now
    ctx.schedule(step_for(project["id"], sprint["id"], task))
    await ctx.set_agent(
        project["id"],
        agent_for(phase, task["title"]),
        "working",
        task=task["id"],
        phase=phase,
        progress=overall_progress(phase),
    )


async def wait_for_approval(
    ctx: Context, project: dict[str, Any], task: dict[str, Any], phase: str, gate: str
) -> None:
    """Hold the task before `phase` until a human approves it."""
    task["status"] = "waiting_approval"
    task["phase"] = phase
    task["waiting_gate"] = gate
    what = "start" if gate == "start" else "commit"
    ctx.notify(
        project["id"],
        "info",
        f"Task {task['id']} waits for your approval",
        f"{agent_for(phase, task['title'])} is ready to {what} {task['id']}: {task['title']}",
        [
            button("Approve", f"/approve {task['id']}", "success"),
            button("Pause sprint", "/sprint pause"),
        ],
    )
    await ctx.set_agent(
        project["id"],
        agent_for(phase, task["title"]),
        "waiting",
        task=task["id"],
        phase=phase,
        progress=overall_progress(phase),
    )


async def begin(
    ctx: Context, project: dict[str, Any], sprint: dict[str, Any], task: dict[str, Any], phase: str
) -> None:
    """Run `phase` of the task now, unless the project's mode wants a human first."""
    mode = project["mode"]
    passed = task.setdefault("gates_passed", [])
    if mode == "blocking" and phase == PHASES[0] and "start" not in passed:
        await wait_for_approval(ctx, project, task, phase, "start")
    elif mode == "partial" and phase == "COMMIT" and "commit" not in passed:
        await wait_for_approval(ctx, project, task, phase, "commit")
    else:
        await start_phase(ctx, project, sprint, task, phase)


async def advance(ctx: Context, project: dict[str, Any], sprint: dict[str, Any]) -> None:
    """Start the next task that has not begun, or end the sprint when every task is finished."""
    for task in sprint["tasks"]:
        if task["status"] in FINISHED:
            continue
        if task["status"] == "pending":
            await begin(ctx, project, sprint, task, PHASES[0])
        return  # a task is running, waiting or stopped: it is in hand
    await finish_sprint(ctx, project, sprint)


async def finish_sprint(ctx: Context, project: dict[str, Any], sprint: dict[str, Any]) -> None:
    """Every task is done or skipped: the sprint goes to review."""
    sprint["status"] = "review"
    sprint["ended_at"] = ctx.now
    ctx.transition(project, State.SPRINT_REVIEW, f"sprint {sprint['id']} finished")
    done = sum(task["status"] == "done" for task in sprint["tasks"])
    ctx.notify(
        project["id"],
        "success",
        f"Sprint {sprint['id']} is ready for review",
        f"{done} of {len(sprint['tasks'])} tasks done. Give feedback or request changes.",
        [
            button("Looks good", '/feedback "Looks good"', "success"),
            button("Workflow state", "/state"),
        ],
    )


async def apply_result(
    ctx: Context,
    project: dict[str, Any],
    sprint: dict[str, Any],
    task: dict[str, Any],
    result: PhaseResult,
    max_failures: int,
) -> None:
    """Record what a phase produced and decide what happens next."""
    phase = task["phase"]
    agent = agent_for(phase, task["title"])
    if result.ok:
        task["outputs"][phase] = result.output
        task["failures"] = 0
        task["error"] = None
        ctx.agent_says(
            project["id"],
            agent,
            f"[{task['id']} · {phase}] {result.output}",
            result={"task": task["id"], "phase": phase, "sprint": sprint["id"]},
        )
        following = next_phase(phase)
        if following is None:
            await finish_task(ctx, project, sprint, task)
            return
        if sprint["status"] == "paused":
            park(task, following)
            await ctx.set_agent(
                project["id"],
                agent_for(following, task["title"]),
                "paused",
                task=task["id"],
                phase=following,
            )
            return
        if agent_for(following, task["title"]) != agent:
            await ctx.set_agent(project["id"], agent, "idle")
        await begin(ctx, project, sprint, task, following)
        return
    task["failures"] += 1
    task["attempts"] += 1
    task["error"] = result.error
    if task["failures"] >= max_failures:
        task["status"] = "failed"
        ctx.transition(project, State.BLOCKED, f"task {task['id']} failed {task['failures']} times")
        await ctx.set_agent(project["id"], agent, "blocked", task=task["id"], phase=phase)
        ctx.notify(
            project["id"],
            "error",
            f"Task {task['id']} is blocked",
            f"{phase} failed {task['failures']} times in a row: {result.error}. "
            'Suggest a fix (/suggest_fix "<hint>") or skip the task.',
            [
                button("Retry with a hint", '/suggest_fix "Try a simpler approach"', "primary"),
                button("Skip task", "/skip_task", "danger"),
            ],
        )
        return
    ctx.agent_says(
        project["id"],
        agent,
        f"[{task['id']} · {phase}] attempt failed: {result.error}; retrying",
        result={"task": task["id"], "phase": phase, "sprint": sprint["id"], "outcome": "failed"},
    )
    if sprint["status"] == "paused":
        park(task, phase)
        return
    await start_phase(ctx, project, sprint, task, phase)


def park(task: dict[str, Any], phase: str) -> None:
    """Stop the task at a phase boundary; `/sprint resume` runs `phase` next."""
    task["status"] = "paused"
    task["phase"] = phase


async def finish_task(
    ctx: Context, project: dict[str, Any], sprint: dict[str, Any], task: dict[str, Any]
) -> None:
    """The task committed: mark it and its story done, then move on."""
    task["status"] = "done"
    task["finished_at"] = ctx.now
    backlog = await ctx.unit.get(BACKLOG, project["id"])
    if backlog is not None:
        story = find(backlog["stories"], task["story_id"])
        if story is not None:
            story["status"] = "done"
            ctx.unit.put(BACKLOG, project["id"], backlog)
    await ctx.set_agent(project["id"], agent_for("COMMIT", task["title"]), "idle")
    ctx.notify(project["id"], "success", f"Task {task['id']} done", task["title"])
    if sprint["status"] == "active":
        await advance(ctx, project, sprint)


async def load_sprint(ctx: Context, project: dict[str, Any]) -> dict[str, Any] | None:
    """The project's current sprint, or None."""
    sprint_id = project.get("active_sprint")
    if sprint_id is None:
        return None
    return await ctx.unit.get(SPRINT, sprint_key(project["id"], sprint_id))


def save_sprint(ctx: Context, project: dict[str, Any], sprint: dict[str, Any]) -> None:
    ctx.unit.put(SPRINT, sprint_key(project["id"], sprint["id"]), sprint)


def save_sprint_and_project(ctx: Context, project: dict[str, Any], sprint: dict[str, Any]) -> None:
    """Write the sprint and its project: what a sprint command changes, in one unit of work."""
    save_sprint(ctx, project, sprint)
    ctx.unit.put(PROJECT, project["id"], project)


async def sprint_or_fail(
    ctx: Context, project: dict[str, Any], command: str, error: str
) -> dict[str, Any] | None:
    """The project's current sprint; None once `command` was answered `error` (there is none)."""
    sprint = await load_sprint(ctx, project)
    if sprint is None:
        ctx.fail(command, error, "Use /sprint plan first", project)
    return sprint
