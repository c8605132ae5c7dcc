"""The project workflow: states and which command is allowed in which state."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    IDLE = "IDLE"
    BACKLOG_READY = "BACKLOG_READY"
    SPRINT_PLANNED = "SPRINT_PLANNED"
    SPRINT_ACTIVE = "SPRINT_ACTIVE"
    SPRINT_PAUSED = "SPRINT_PAUSED"
    SPRINT_REVIEW = "SPRINT_REVIEW"
    BLOCKED = "BLOCKED"


ALL = frozenset(State)
NOT_IN_REVIEW = ALL - {State.SPRINT_REVIEW}


@dataclass(frozen=True)
class CommandSpec:
    """One command as a user types it: where it is allowed and how to use it."""

    name: str
    usage: str
    description: str
    allowed_in: frozenset[State]
    needs_project: bool = True
    admin_only: bool = False


COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec(
            "/epic",
            '/epic "<description>"',
            "Create an epic; the DesignAgent proposes stories for it",
            frozenset({State.IDLE, State.BACKLOG_READY}),
        ),
        CommandSpec(
            "/approve",
            "/approve [ids]",
            "Approve proposed stories, or agent work waiting for a human",
            frozenset({State.BACKLOG_READY, State.SPRINT_ACTIVE, State.BLOCKED}),
        ),
        CommandSpec(
            "/sprint plan",
            "/sprint plan [story ids]",
            "Plan a sprint from the given or the highest-priority approved stories",
            frozenset({State.BACKLOG_READY}),
        ),
        CommandSpec(
            "/sprint start",
            "/sprint start",
            "Start the planned sprint",
            frozenset({State.SPRINT_PLANNED}),
        ),
        CommandSpec(
            "/sprint status",
            "/sprint status",
            "Tasks done, failed and running, pending approvals, time spent",
            frozenset({State.SPRINT_ACTIVE, State.SPRINT_PAUSED, State.BLOCKED}),
        ),
        CommandSpec(
            "/sprint pause",
            "/sprint pause",
            "Pause the sprint at the next phase boundary",
            frozenset({State.SPRINT_ACTIVE}),
        ),
        CommandSpec(
            "/sprint resume",
            "/sprint resume",
            "Resume a paused sprint",
            frozenset({State.SPRINT_PAUSED}),
        ),
        CommandSpec(
            "/request_changes",
            '/request_changes "<text>"',
            "Send the sprint's work back with the changes you want",
            frozenset({State.SPRINT_REVIEW}),
        ),
        CommandSpec(
            "/suggest_fix",
            '/suggest_fix "<text>"',
            "Retry a blocked task with a hint",
            frozenset({State.BLOCKED}),
        ),
        CommandSpec(
            "/skip_task", "/skip_task", "Skip the blocked task", frozenset({State.BLOCKED})
        ),
        CommandSpec(
            "/feedback",
            '/feedback "<text>"',
            "Save the sprint retrospective and finish the sprint",
            frozenset({State.SPRINT_REVIEW}),
        ),
        CommandSpec("/backlog view", "/backlog view", "Show epics and stories", NOT_IN_REVIEW),
        CommandSpec(
            "/backlog add_story",
            '/backlog add_story "<title>" [priority]',
            "Add a story to the backlog",
            NOT_IN_REVIEW,
        ),
        CommandSpec(
            "/backlog prioritize",
            "/backlog prioritize <story id> <1-5|top|high|medium|low>",
            "Change a story's priority",
            NOT_IN_REVIEW,
        ),
        CommandSpec(
            "/backlog remove", "/backlog remove <story id>", "Remove a story", NOT_IN_REVIEW
        ),
        CommandSpec(
            "/state", "/state", "Show the workflow state and the commands allowed now", ALL
        ),
        CommandSpec(
            "/help",
            "/help [command]",
            "List the commands, or explain one",
            ALL,
            needs_project=False,
        ),
        CommandSpec("/agents", "/agents", "Show the agents and what they are doing", ALL),
        CommandSpec("/context", "/context", "Show the project's context", ALL),
        # About the process, not a project: an admin with no project may ask too.
        CommandSpec(
            "/status",
            "/status",
            "System status (admins)",
            ALL,
            needs_project=False,
            admin_only=True,
        ),
        CommandSpec(
            "/logs", "/logs", "Recent logs (admins)", ALL, needs_project=False, admin_only=True
        ),
        CommandSpec(
            "/project register",
            "/project register <name>",
            "Create a project with a #general channel",
            ALL,
            needs_project=False,
        ),
        CommandSpec(
            "/project list", "/project list", "List your projects", ALL, needs_project=False
        ),
        CommandSpec(
            "/channel create",
            "/channel create <name>",
            "Add a channel to the project (lowercase letters, digits, - and _)",
            ALL,
        ),
        CommandSpec(
            "/project mode",
            "/project mode <blocking|partial|autonomous>",
            "How much the agents wait for you: before every task, before commits, or never",
            ALL,
        ),
    )
}

# Commands with sub-commands: the first word alone is not a command.
GROUPS = {"/sprint", "/backlog", "/project", "/channel"}


def allowed_commands(
    state: State, *, admin: bool = False, approvals_pending: bool = True
) -> list[str]:
    """Commands allowed in `state`, as typed, in the order of the command table.

    `/approve` only while something waits for approval, where the caller knows (`/state` and
    the state API read it anyway; a command's result, which does not, lists it by state).
    """
    return [
        spec.name
        for spec in COMMANDS.values()
        if state in spec.allowed_in
        and (admin or not spec.admin_only)
        and (approvals_pending or spec.name != "/approve")
    ]


_EPIC_IN_SPRINT = (
    "Cannot create an epic during a sprint. Add a story with /backlog add_story, "
    "or create the epic once the sprint is reviewed (/feedback)."
)
_SPECIFIC_HINTS: dict[tuple[str, State], str] = {
    ("/sprint start", State.IDLE): "No sprint planned. Use /epic then /sprint plan first.",
    (
        "/sprint plan",
        State.SPRINT_ACTIVE,
    ): "Sprint already active. Use /sprint status or /sprint pause.",
    ("/sprint start", State.SPRINT_ACTIVE): "Sprint already active. Use /sprint status.",
    # Not "/sprint pause": a paused sprint refuses /epic too.
    ("/epic", State.SPRINT_ACTIVE): _EPIC_IN_SPRINT,
    ("/epic", State.SPRINT_PAUSED): _EPIC_IN_SPRINT,
}


def rejection(spec: CommandSpec, state: State) -> tuple[str, str]:
    """The error and hint for a command that is not allowed in `state`."""
    if spec.name.startswith("/backlog") and state is State.SPRINT_REVIEW:
        return (
            "Backlog modifications not allowed during sprint review",
            "Use /feedback or /request_changes to finish the review first.",
        )
    error = f"Command {spec.name} not allowed in state {state}"
    hint = _SPECIFIC_HINTS.get((spec.name, state))
    if hint is None:
        states = ", ".join(s for s in State if s in spec.allowed_in)
        hint = f"Try when in states: {states}"
    return error, hint
