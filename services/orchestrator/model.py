"""The domain's entities as stored: keys, fresh states, and small pure helpers."""

from __future__ import annotations

import re
import time
from typing import Any

from services.common.access import PROJECT
from services.common.contracts import AGENTS, UserInfo
from services.common.entities import AGENTS_KIND, BACKLOG_KIND, PROJECT_MODES, SPRINT_KIND

from .workflow import State

# The aggregates' kinds; `services/common/entities.py` reads the UI's entities out of them.
BACKLOG = BACKLOG_KIND
SPRINT = SPRINT_KIND
AGENT_STATE = AGENTS_KIND
MODES = PROJECT_MODES
DEFAULT_CHANNELS = ("general",)
PRIORITY_NAMES = {"top": 1, "high": 2, "medium": 3, "low": 4}

__all__ = ["AGENT_STATE", "BACKLOG", "PROJECT", "SPRINT"]


def slugify(name: str) -> str:
    """Lowercase letters, digits and dashes: the project id of a name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].rstrip("-")


def sprint_key(project_id: str, sprint_id: str) -> str:
    return f"{project_id}:{sprint_id}"


def new_project(project_id: str, name: str, owner: UserInfo) -> dict[str, Any]:
    """The state of a freshly registered project."""
    return {
        "id": project_id,
        "name": name,
        "state": State.IDLE.value,
        "mode": "blocking",
        "channels": list(DEFAULT_CHANNELS),
        "members": [owner.id],
        "created_by": owner.id,
        "created_at": time.time(),
        "epic_seq": 0,
        "story_seq": 0,
        "sprint_seq": 0,
        "active_sprint": None,
    }


def new_backlog() -> dict[str, Any]:
    return {"epics": [], "stories": []}


def new_agents() -> dict[str, Any]:
    return {
        agent: {"status": "idle", "task": None, "phase": None, "progress": None} for agent in AGENTS
    }


def parse_priority(text: str) -> int | None:
    """1-5, or top/high/medium/low; None if it is neither."""
    lowered = text.strip().lower()
    if lowered in PRIORITY_NAMES:
        return PRIORITY_NAMES[lowered]
    if lowered.isdigit() and 1 <= int(lowered) <= 5:
        return int(lowered)
    return None


def new_story(
    story_id: str,
    title: str,
    *,
    epic_id: str | None,
    description: str = "",
    criteria: list[str] | None = None,
    priority: int = 3,
    status: str = "approved",
) -> dict[str, Any]:
    return {
        "id": story_id,
        "epic_id": epic_id,
        "title": title,
        "description": description,
        "acceptance_criteria": list(criteria or []),
        "priority": priority,
        "status": status,
    }


def find(items: list[dict[str, Any]], item_id: str) -> dict[str, Any] | None:
    """The item with this id (case-insensitive), or None."""
    wanted = item_id.upper()
    return next((item for item in items if item["id"].upper() == wanted), None)


def new_task(task_id: str, story: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": task_id,
        "story_id": story["id"],
        "title": story["title"],
        "description": story["description"],
        "acceptance_criteria": story["acceptance_criteria"],
        "status": "pending",  # pending|waiting_approval|running|paused|failed|done|skipped
        "phase": None,
        "step": 0,
        "attempts": 0,
        "failures": 0,
        "hint": None,
        "outputs": {},
        "error": None,
        "started_at": None,
        "finished_at": None,
    }


def new_sprint(sprint_id: str, project_id: str, stories: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": sprint_id,
        "project_id": project_id,
        "status": "planned",  # planned|active|paused|review|closed
        "story_ids": [story["id"] for story in stories],
        "tasks": [new_task(f"T{i}", story) for i, story in enumerate(stories, start=1)],
        "created_at": time.time(),
        "started_at": None,
        "ended_at": None,
        "retrospective": None,
        "changes_requested": None,
    }


def story_order(story: dict[str, Any]) -> tuple[int, int]:
    """Highest priority first, then oldest (S2 before S10)."""
    digits = "".join(ch for ch in story["id"] if ch.isdigit())
    return story["priority"], int(digits or 0)


def task_counts(sprint: dict[str, Any]) -> dict[str, int]:
    """How many tasks are in each status."""
    counts: dict[str, int] = {}
    for task in sprint["tasks"]:
        counts[task["status"]] = counts.get(task["status"], 0) + 1
    return counts


FINISHED = frozenset({"done", "skipped"})
