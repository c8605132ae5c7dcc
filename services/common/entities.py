"""The entities the UI sees, read from the aggregates the orchestrator stores.

The orchestrator stores a few aggregates (see `services/orchestrator/model.py`):

| aggregate (kind, key)            | entities in it                                        |
|----------------------------------|-------------------------------------------------------|
| `project`, `<project>`           | `project` `<project>`                                  |
| `backlog`, `<project>`           | `story` `<project>:<Sn>` (one per story)               |
| `sprint`, `<project>:<SPn>`      | `sprint` `<project>:<SPn>`, `task` `<project>:<SPn>:<Tn>` |
| `agents`, `<project>`            | `agent` `<project>:<AgentId>` (one per agent)          |

An entity's version is the version of the aggregate it lives in, so any change to the
aggregate moves the version of every entity in it; compare-and-set on a UI change uses it.

This module is pure apart from `snapshot` (one store read): the same extraction serves
snapshots (`GET /api/entities`, `subscribe`), the diff that becomes `state_changed` events
(`changes`), and the checks of a UI change (`check_change`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from .contracts import AGENTS, EntitySnapshotData, EntityType
from .store import Store

# Aggregate kinds as stored (the orchestrator's model uses these names).
PROJECT_KIND = "project"
BACKLOG_KIND = "backlog"
SPRINT_KIND = "sprint"
AGENTS_KIND = "agents"

ENTITY_TYPES: tuple[str, ...] = get_args(EntityType)
PROJECT_MODES = ("blocking", "partial", "autonomous")
MAX_PROJECT_NAME = 64
PRIORITIES = range(1, 6)

EntitySnapshot = EntitySnapshotData

# --- what the UI may change ---------------------------------------------------------------------

# status transitions: current value -> values it may become (the seed's tables, and stories').
SPRINT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "planned": ("active", "cancelled"),
    "active": ("completed", "paused"),
    "paused": ("active", "cancelled"),
}
AGENT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "idle": ("working", "paused"),
    "working": ("idle", "error"),
    "paused": ("working", "idle"),
    "error": ("idle",),
}
STORY_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "proposed": ("approved", "rejected"),
    "approved": ("proposed",),
}
TRANSITIONS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("sprint", "status"): SPRINT_TRANSITIONS,
    ("agent", "status"): AGENT_TRANSITIONS,
    ("story", "status"): STORY_TRANSITIONS,
}
# The fields a UI may edit, per entity type (tasks are read-only).
EDITABLE: dict[str, tuple[str, ...]] = {
    "project": ("name", "mode"),
    "sprint": ("status",),
    "story": ("status", "priority"),
    "agent": ("status",),
}


@dataclass(frozen=True)
class FieldChange:
    """One field of one entity, before and after a commit (None where absent)."""

    entity_type: str
    entity_id: str
    field: str
    old_value: Any
    new_value: Any


# --- ids ------------------------------------------------------------------------------------------


def project_of(entity_id: str) -> str:
    """The project an entity id belongs to (project ids never contain `:`)."""
    return entity_id.split(":", 1)[0]


def location(entity_type: str, entity_id: str) -> tuple[str, str] | None:
    """The aggregate (kind, key) an entity lives in, or None if the id has the wrong shape."""
    parts = entity_id.split(":")
    if any(not part for part in parts):
        return None
    if entity_type == "project" and len(parts) == 1:
        return PROJECT_KIND, entity_id
    if entity_type == "sprint" and len(parts) == 2:
        return SPRINT_KIND, entity_id
    if entity_type == "task" and len(parts) == 3:
        return SPRINT_KIND, f"{parts[0]}:{parts[1]}"
    if entity_type == "story" and len(parts) == 2:
        return BACKLOG_KIND, parts[0]
    if entity_type == "agent" and len(parts) == 2 and parts[1] in AGENTS:
        return AGENTS_KIND, parts[0]
    return None


# --- reading entities out of aggregates -------------------------------------------------------

Views = dict[tuple[str, str], dict[str, Any]]


def _pick(source: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: source.get(name) for name in fields}


def _project(key: str, state: Mapping[str, Any]) -> Views:
    view = _pick(state, ("id", "name", "state", "mode", "active_sprint"))
    view["mode"] = view["mode"] or "blocking"
    return {("project", key): view}


_STORY_FIELDS = (
    "id",
    "epic_id",
    "title",
    "description",
    "acceptance_criteria",
    "priority",
    "status",
)


def _backlog(key: str, state: Mapping[str, Any]) -> Views:
    return {
        ("story", f"{key}:{story['id']}"): _pick(story, _STORY_FIELDS)
        for story in state.get("stories", ())
    }


_SPRINT_FIELDS = (
    "id",
    "project_id",
    "status",
    "story_ids",
    "created_at",
    "started_at",
    "ended_at",
    "retrospective",
    "changes_requested",
)
_TASK_FIELDS = (
    "id",
    "story_id",
    "title",
    "status",
    "phase",
    "attempts",
    "failures",
    "error",
    "started_at",
    "finished_at",
)


def _sprint(key: str, state: Mapping[str, Any]) -> Views:
    tasks = list(state.get("tasks", ()))
    sprint = _pick(state, _SPRINT_FIELDS)
    sprint["task_ids"] = [task["id"] for task in tasks]
    views: Views = {("sprint", key): sprint}
    for task in tasks:
        views[("task", f"{key}:{task['id']}")] = _pick(task, _TASK_FIELDS)
    return views


def _agents(key: str, state: Mapping[str, Any]) -> Views:
    return {
        ("agent", f"{key}:{agent}"): {
            "id": agent,
            **_pick(info, ("status", "task", "phase", "progress")),
        }
        for agent, info in state.items()
        if isinstance(info, Mapping)
    }


_READERS: dict[str, Callable[[str, Mapping[str, Any]], Views]] = {
    PROJECT_KIND: _project,
    BACKLOG_KIND: _backlog,
    SPRINT_KIND: _sprint,
    AGENTS_KIND: _agents,
}


def entities_in(kind: str, key: str, state: Mapping[str, Any] | None) -> Views:
    """Every UI entity in one stored aggregate, by (entity_type, entity_id); {} for others."""
    reader = _READERS.get(kind)
    if reader is None or state is None:
        return {}
    return reader(key, state)


def view(entity_type: str, entity_id: str, aggregate: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entity's fields from the state of its aggregate; {} if it is not there."""
    where = location(entity_type, entity_id)
    if where is None:
        return {}
    return entities_in(where[0], where[1], aggregate).get((entity_type, entity_id), {})


async def snapshot(store: Store, entity_type: str, entity_id: str) -> EntitySnapshot | None:
    """The entity as stored now, with its aggregate's version; None if there is no such entity."""
    where = location(entity_type, entity_id)
    if where is None:
        return None
    aggregate = await store.get(*where)
    if aggregate is None:
        return None
    fields = view(entity_type, entity_id, aggregate.state)
    if not fields:
        return None
    return EntitySnapshotData.model_validate(
        {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "version": aggregate.version,
            "state": fields,
        }
    )


def changes(
    kind: str,
    key: str,
    old_state: Mapping[str, Any] | None,
    new_state: Mapping[str, Any] | None,
) -> list[FieldChange]:
    """Per-entity field changes between two versions of an aggregate (None: absent).

    An entity that appears has every non-null field change from None; one that disappears
    has every non-null field change to None. Entities keep the order of the aggregate.
    """
    before = entities_in(kind, key, old_state)
    after = entities_in(kind, key, new_state)
    found: list[FieldChange] = []
    for ref in [*after, *(ref for ref in before if ref not in after)]:
        old, new = before.get(ref, {}), after.get(ref, {})
        for name in [*new, *(name for name in old if name not in new)]:
            old_value, new_value = old.get(name), new.get(name)
            if old_value != new_value:
                found.append(FieldChange(ref[0], ref[1], name, old_value, new_value))
    return found


# --- checking a UI change ---------------------------------------------------------------------


def _value_problem(entity_type: str, field: str, value: Any) -> str | None:
    """Why `value` can never be a value of the field, or None."""
    if (entity_type, field) == ("project", "name"):
        if not isinstance(value, str) or not value.strip():
            return "project name must be a non-empty string"
        if len(value) > MAX_PROJECT_NAME:
            return f"project name must be at most {MAX_PROJECT_NAME} characters"
    elif (entity_type, field) == ("project", "mode"):
        if value not in PROJECT_MODES:
            return "project mode must be one of " + ", ".join(PROJECT_MODES)
    elif (entity_type, field) == ("story", "priority") and (
        isinstance(value, bool) or not isinstance(value, int) or value not in PRIORITIES
    ):
        return "story priority must be an integer from 1 to 5"
    return None


def check_change(
    entity_type: str, field: str, old_value: Any, new_value: Any, current: Mapping[str, Any]
) -> str | None:
    """Why a UI change to an entity whose fields are `current` is refused, or None if it is fine.

    In order: the field must be editable, the new value valid (a status must follow its
    transition table from `old_value`), and `old_value` must be the field's current value.
    """
    editable = EDITABLE.get(entity_type, ())
    if field not in editable:
        allowed = ", ".join(f"{entity_type}.{name}" for name in editable)
        return f"{entity_type}.{field} cannot be changed" + (
            f" from the UI; editable: {allowed}" if allowed else f": {entity_type}s are read-only"
        )
    table = TRANSITIONS.get((entity_type, field))
    if table is not None:
        allowed_next = table.get(old_value, ()) if isinstance(old_value, str) else ()
        if new_value not in allowed_next:
            options = ", ".join(allowed_next) or "nothing"
            return (
                f"{entity_type} {field} cannot change from {old_value!r} to {new_value!r} "
                f"(from {old_value!r} it may become: {options})"
            )
    else:
        problem = _value_problem(entity_type, field, new_value)
        if problem is not None:
            return problem
    current_value = current.get(field)
    if old_value != current_value:
        return (
            f"stale: {entity_type} {field} is {current_value!r} now, not {old_value!r}; "
            "refresh and try again"
        )
    if new_value == current_value:
        return f"{entity_type} {field} is already {current_value!r}"
    return None
