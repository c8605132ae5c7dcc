"""UI entities read from the stored aggregates: ids, snapshots, diffs and the checks of changes."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.entities import (
    AGENT_TRANSITIONS,
    EDITABLE,
    SPRINT_TRANSITIONS,
    STORY_TRANSITIONS,
    FieldChange,
    changes,
    check_change,
    entities_in,
    location,
    project_of,
    snapshot,
)
from services.common.store import MemoryStore, Write


def project(**fields: Any) -> dict[str, Any]:
    return {
        "id": "p1",
        "name": "P1",
        "state": "IDLE",
        "mode": "blocking",
        "active_sprint": None,
        "members": ["u1"],
        "story_seq": 0,
        **fields,
    }


def story(story_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": story_id,
        "epic_id": None,
        "title": f"Story {story_id}",
        "description": "",
        "acceptance_criteria": [],
        "priority": 3,
        "status": "proposed",
        **fields,
    }


def task(task_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": task_id,
        "story_id": "S1",
        "title": "Story S1",
        "status": "pending",
        "phase": None,
        "step": 0,
        "attempts": 0,
        "failures": 0,
        "error": None,
        "outputs": {},
        "started_at": None,
        "finished_at": None,
        **fields,
    }


def sprint(**fields: Any) -> dict[str, Any]:
    return {
        "id": "SP1",
        "project_id": "p1",
        "status": "planned",
        "story_ids": ["S1"],
        "tasks": [task("T1")],
        "created_at": 1.0,
        "started_at": None,
        "ended_at": None,
        "retrospective": None,
        "changes_requested": None,
        **fields,
    }


def agents(**overrides: dict[str, Any]) -> dict[str, Any]:
    idle = {"status": "idle", "task": None, "phase": None, "progress": None}
    found = {name: dict(idle) for name in ("DesignAgent", "QAAgent", "CodeAgent", "DataAgent")}
    for name, info in overrides.items():
        found[name] |= info
    return found


def test_ids_name_their_project_and_aggregate() -> None:
    assert project_of("p1:SP2:T3") == "p1" and project_of("p1") == "p1"
    assert location("project", "p1") == ("project", "p1")
    assert location("sprint", "p1:SP2") == ("sprint", "p1:SP2")
    assert location("task", "p1:SP2:T3") == ("sprint", "p1:SP2")
    assert location("story", "p1:S4") == ("backlog", "p1")
    assert location("agent", "p1:QAAgent") == ("agents", "p1")
    for entity_type, entity_id in [
        ("project", "p1:x"),
        ("sprint", "p1"),
        ("task", "p1:SP2"),
        ("story", "p1::"),
        ("agent", "p1:Nobody"),
        ("epic", "p1:E1"),
    ]:
        assert location(entity_type, entity_id) is None


def test_entities_in_each_aggregate() -> None:
    assert entities_in("project", "p1", project()) == {
        ("project", "p1"): {
            "id": "p1",
            "name": "P1",
            "state": "IDLE",
            "mode": "blocking",
            "active_sprint": None,
        }
    }
    stories = entities_in("backlog", "p1", {"epics": [], "stories": [story("S1"), story("S2")]})
    assert list(stories) == [("story", "p1:S1"), ("story", "p1:S2")]
    in_sprint = entities_in("sprint", "p1:SP1", sprint())
    assert list(in_sprint) == [("sprint", "p1:SP1"), ("task", "p1:SP1:T1")]
    assert in_sprint[("sprint", "p1:SP1")]["task_ids"] == ["T1"]
    assert "step" not in in_sprint[("task", "p1:SP1:T1")]  # internal fields stay inside
    assert entities_in("agents", "p1", agents())[("agent", "p1:CodeAgent")] == {
        "id": "CodeAgent",
        "status": "idle",
        "task": None,
        "phase": None,
        "progress": None,
    }
    assert entities_in("user", "alice", {"id": "u1"}) == {}
    assert entities_in("project", "p1", None) == {}


def test_changes_of_a_field() -> None:
    assert changes("project", "p1", project(), project(mode="partial", members=["u1", "u2"])) == [
        FieldChange("project", "p1", "mode", "blocking", "partial")
    ]
    assert changes("project", "p1", project(), project()) == []


def test_changes_inside_lists_name_each_entity() -> None:
    before = {"epics": [], "stories": [story("S1"), story("S2")]}
    after = {"epics": [], "stories": [story("S1", status="approved"), story("S2", priority=1)]}
    assert changes("backlog", "p1", before, after) == [
        FieldChange("story", "p1:S1", "status", "proposed", "approved"),
        FieldChange("story", "p1:S2", "priority", 3, 1),
    ]
    started = sprint(
        status="active",
        started_at=5.0,
        tasks=[task("T1", status="running", phase="DESIGN", step=1, started_at=5.0)],
    )
    assert changes("sprint", "p1:SP1", sprint(), started) == [
        FieldChange("sprint", "p1:SP1", "status", "planned", "active"),
        FieldChange("sprint", "p1:SP1", "started_at", None, 5.0),
        FieldChange("task", "p1:SP1:T1", "status", "pending", "running"),
        FieldChange("task", "p1:SP1:T1", "phase", None, "DESIGN"),
        FieldChange("task", "p1:SP1:T1", "started_at", None, 5.0),
    ]
    working = agents(DesignAgent={"status": "working", "task": "T1", "progress": 0})
    assert changes("agents", "p1", agents(), working) == [
        FieldChange("agent", "p1:DesignAgent", "status", "idle", "working"),
        FieldChange("agent", "p1:DesignAgent", "task", None, "T1"),
        FieldChange("agent", "p1:DesignAgent", "progress", None, 0),
    ]


def test_changes_of_entities_that_appear_or_go() -> None:
    added = changes("backlog", "p1", {"stories": []}, {"stories": [story("S1")]})
    assert {c.field for c in added} == {"id", "title", "description", "acceptance_criteria"} | {
        "priority",
        "status",
    }  # every non-null field, from None
    assert all(c.old_value is None and c.entity_id == "p1:S1" for c in added)
    removed = changes("backlog", "p1", {"stories": [story("S1")]}, {"stories": []})
    assert all(c.new_value is None for c in removed) and len(removed) == len(added)
    created = changes("project", "p1", None, project())
    assert FieldChange("project", "p1", "state", None, "IDLE") in created
    assert changes("user", "alice", None, {"id": "u1"}) == []


async def test_snapshot_carries_the_aggregate_version() -> None:
    store = MemoryStore()
    await store.commit([Write("backlog", "p1", {"stories": [story("S1")]}, 0)])
    await store.commit([Write("backlog", "p1", {"stories": [story("S1", priority=2)]}, 1)])
    await store.commit([Write("sprint", "p1:SP1", sprint(), 0)])
    found = await snapshot(store, "story", "p1:S1")
    assert found is not None and found.version == 2 and found.state["priority"] == 2
    assert found.entity_type == "story" and found.entity_id == "p1:S1"
    in_sprint = await snapshot(store, "task", "p1:SP1:T1")
    assert (
        in_sprint is not None and in_sprint.version == 1 and in_sprint.state["status"] == "pending"
    )
    assert await snapshot(store, "story", "p1:S9") is None
    assert await snapshot(store, "agent", "p1:CodeAgent") is None  # no agents aggregate
    assert await snapshot(store, "task", "p1") is None


def test_transition_tables() -> None:
    assert SPRINT_TRANSITIONS == {
        "planned": ("active", "cancelled"),
        "active": ("completed", "paused"),
        "paused": ("active", "cancelled"),
    }
    assert AGENT_TRANSITIONS == {
        "idle": ("working", "paused"),
        "working": ("idle", "error"),
        "paused": ("working", "idle"),
        "error": ("idle",),
    }
    assert STORY_TRANSITIONS == {"proposed": ("approved", "rejected"), "approved": ("proposed",)}
    assert EDITABLE == {
        "project": ("name", "mode"),
        "sprint": ("status",),
        "story": ("status", "priority"),
        "agent": ("status",),
    }


@pytest.mark.parametrize(
    ("entity_type", "field", "old", "new", "current"),
    [
        ("sprint", "status", "planned", "active", {"status": "planned"}),
        ("sprint", "status", "paused", "cancelled", {"status": "paused"}),
        ("agent", "status", "error", "idle", {"status": "error"}),
        ("story", "status", "approved", "proposed", {"status": "approved"}),
        ("story", "priority", 3, 5, {"priority": 3}),
        ("project", "name", "P1", "Renamed", {"name": "P1"}),
        ("project", "mode", "blocking", "autonomous", {"mode": "blocking"}),
    ],
)
def test_changes_the_ui_may_make(
    entity_type: str, field: str, old: Any, new: Any, current: dict[str, Any]
) -> None:
    assert check_change(entity_type, field, old, new, current) is None


@pytest.mark.parametrize(
    ("entity_type", "field", "old", "new", "current", "reason"),
    [
        ("project", "state", "IDLE", "SPRINT_ACTIVE", {"state": "IDLE"}, "cannot be changed"),
        ("task", "status", "pending", "done", {"status": "pending"}, "tasks are read-only"),
        ("sprint", "started_at", None, 1.0, {"started_at": None}, "editable: sprint.status"),
        ("sprint", "status", "planned", "completed", {"status": "planned"}, "may become: active"),
        ("sprint", "status", "review", "active", {"status": "review"}, "may become: nothing"),
        ("agent", "status", "idle", "error", {"status": "idle"}, "cannot change from 'idle'"),
        ("story", "status", "approved", "rejected", {"status": "approved"}, "cannot change"),
        ("story", "priority", 3, 6, {"priority": 3}, "integer from 1 to 5"),
        ("story", "priority", 3, True, {"priority": 3}, "integer from 1 to 5"),
        ("story", "priority", 3, "1", {"priority": 3}, "integer from 1 to 5"),
        ("project", "mode", "blocking", "lazy", {"mode": "blocking"}, "one of blocking"),
        ("project", "name", "P1", "  ", {"name": "P1"}, "non-empty"),
        ("project", "name", "P1", "x" * 65, {"name": "P1"}, "at most 64"),
        ("story", "status", "proposed", "approved", {"status": "approved"}, "stale"),
        ("story", "priority", 2, 1, {"priority": 3}, "is 3 now, not 2"),
        ("project", "name", "P1", "P1", {"name": "P1"}, "already 'P1'"),
    ],
)
def test_changes_the_ui_may_not_make(
    entity_type: str, field: str, old: Any, new: Any, current: dict[str, Any], reason: str
) -> None:
    refused = check_change(entity_type, field, old, new, current)
    assert refused is not None and reason in refused, refused
