"""The orchestrator's side of entities: `state_changed` on every commit, UI changes by CAS."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from services.common.contracts import (
    ChangeEnvelope,
    DomainEvent,
    StateChangeConfirmedData,
    StateChangeRejectedData,
    UserInfo,
)
from services.common.entities import snapshot
from services.common.jsonutil import dumps
from services.common.topology import COMMANDS, ENTITY_CHANGE_KEY
from tests.harness import ALICE, BOB, Harness


def envelope(
    entity_type: str,
    entity_id: str,
    field: str,
    old: Any,
    new: Any,
    version: int | None,
    user: UserInfo = ALICE,
    session_id: str = "s",
) -> ChangeEnvelope:
    return ChangeEnvelope.model_validate(
        {
            "request_id": uuid.uuid4().hex,
            "change": {
                "change_id": uuid.uuid4().hex[:8],
                "entity_type": entity_type,
                "entity_id": entity_id,
                "field": field,
                "old_value": old,
                "new_value": new,
            },
            "user": user,
            "session_id": session_id,
            "ref": "f1",
            "issued_at": time.time(),
            "expected_version": version,
        }
    )


async def publish(h: Harness, change: ChangeEnvelope) -> None:
    await h.adapters.bus.publish(
        h.adapters.topology.exchange(COMMANDS),
        ENTITY_CHANGE_KEY,
        dumps(change),
        message_id=change.request_id,
    )


async def answer(h: Harness, change: ChangeEnvelope) -> StateChangeConfirmedData | str:
    """The confirmation, or the reason of the rejection."""
    event = await h.wait_for(
        lambda e: (
            e.event in ("state_change_confirmed", "state_change_rejected")
            and e.data.change_id == change.change.change_id
        )
    )
    if isinstance(event.data, StateChangeRejectedData):
        return event.data.reason
    assert isinstance(event.data, StateChangeConfirmedData)
    return event.data


async def apply(
    h: Harness, entity_type: str, entity_id: str, field: str, old: Any, new: Any, **kw: Any
) -> StateChangeConfirmedData | str:
    """Send a change at the entity's current version; return its answer."""
    found = await snapshot(h.adapters.store, entity_type, entity_id)
    assert found is not None, f"{entity_type} {entity_id} not found"
    change = envelope(entity_type, entity_id, field, old, new, found.version, **kw)
    await publish(h, change)
    return await answer(h, change)


def changed(h: Harness, entity_type: str, entity_id: str, field: str) -> list[Any]:
    return [
        e.data
        for e in h.of("state_changed")
        if (e.data.entity_type, e.data.entity_id, e.data.field) == (entity_type, entity_id, field)
    ]


async def planned_sprint(h: Harness, name: str, mode: str = "blocking") -> str:
    assert (await h.command(f"/project register {name}")).ok
    assert (await h.command(f"/project mode {mode}", name)).ok
    assert (await h.command('/epic "User login"', name)).ok
    await h.wait_for(
        lambda e: (
            e.event == "agent_response"
            and e.data.project_id == name
            and e.data.message.startswith("Proposed")
        )
    )
    assert (await h.command("/approve", name)).ok
    assert (await h.command("/sprint plan", name)).current_state == "SPRINT_PLANNED"
    return name


async def test_workflow_commits_announce_each_field_change(harness: Harness) -> None:
    """A command's writes become `state_changed` events: new version, source orchestrator."""
    assert (await harness.command("/project register watched")).ok
    assert (await harness.command("/project mode partial", "watched")).ok
    stored = await harness.adapters.store.get("project", "watched")
    assert stored is not None
    created, mode = changed(harness, "project", "watched", "mode")
    assert (created.old_value, created.new_value, created.version) == (None, "blocking", 1)
    assert (mode.old_value, mode.new_value, mode.version, mode.source) == (
        "blocking",
        "partial",
        stored.version,
        "orchestrator",
    )
    event = next(e for e in harness.of("state_changed") if e.data is mode)
    assert event.topic == "entity:project:watched"
    # A new project brings its agents: each appears with its fields.
    assert [c.new_value for c in changed(harness, "agent", "watched:QAAgent", "status")] == ["idle"]
    assert (await harness.command('/backlog add_story "Search" 2', "watched")).ok
    title = changed(harness, "story", "watched:S1", "title")
    assert [(c.old_value, c.new_value) for c in title] == [(None, "Search")]


async def test_sprint_start_pause_resume_from_the_ui(harness: Harness) -> None:
    """planned → active, active → paused, paused → active run the /sprint commands."""
    p = await planned_sprint(harness, "ui-sprint")
    sprint_id = f"{p}:SP1"
    started = await apply(harness, "sprint", sprint_id, "status", "planned", "active")
    assert isinstance(started, StateChangeConfirmedData), started
    assert started.session_id == "s" and started.ref == "f1"
    stored = await harness.adapters.store.get("sprint", sprint_id)
    assert stored is not None and started.version == stored.version
    assert await harness.state_of(p) == "SPRINT_ACTIVE"
    transition = await harness.wait_for(
        lambda e: e.event == "state_change" and e.data.new_state == "SPRINT_ACTIVE"
    )
    assert transition.data.reason == "/sprint start"  # type: ignore[union-attr]
    status = changed(harness, "sprint", sprint_id, "status")[-1]
    assert (status.new_value, status.source, status.version) == ("active", "ui:s", stored.version)
    [started_at] = changed(harness, "sprint", sprint_id, "started_at")
    assert started_at.source == "orchestrator"  # what the change caused
    project_state = changed(harness, "project", p, "state")[-1]
    assert project_state.new_value == "SPRINT_ACTIVE" and project_state.source == "orchestrator"
    # Blocking mode: the first task waits for approval, as after /sprint start.
    await harness.wait_for(
        lambda e: e.event == "notification" and "waits for your approval" in e.data.title
    )
    # The sender's answer replaces the command's: no command_result for the change.
    assert not [e for e in harness.of("command_result") if e.data.command.startswith("state")]

    paused = await apply(harness, "sprint", sprint_id, "status", "active", "paused")
    assert isinstance(paused, StateChangeConfirmedData), paused
    assert await harness.state_of(p) == "SPRINT_PAUSED"
    resumed = await apply(harness, "sprint", sprint_id, "status", "paused", "active")
    assert isinstance(resumed, StateChangeConfirmedData), resumed
    assert await harness.state_of(p) == "SPRINT_ACTIVE"


async def test_other_sprint_transitions_name_the_command_to_use(harness: Harness) -> None:
    p = await planned_sprint(harness, "ui-refusals")
    cancelled = await apply(harness, "sprint", f"{p}:SP1", "status", "planned", "cancelled")
    assert isinstance(cancelled, str) and "/sprint pause" in cancelled
    assert await harness.state_of(p) == "SPRINT_PLANNED"
    assert isinstance(
        await apply(harness, "sprint", f"{p}:SP1", "status", "planned", "active"),
        StateChangeConfirmedData,
    )
    completed = await apply(harness, "sprint", f"{p}:SP1", "status", "active", "completed")
    assert isinstance(completed, str) and "/feedback" in completed
    assert await harness.state_of(p) == "SPRINT_ACTIVE"


async def test_plain_field_updates(harness: Harness) -> None:
    """Project name and mode, story status and priority, agent status."""
    p = await planned_sprint(harness, "ui-fields")
    assert (await harness.command('/backlog add_story "Reset password" 4', p)).ok
    story = f"{p}:S4"
    assert isinstance(
        await apply(harness, "story", story, "priority", 4, 1), StateChangeConfirmedData
    )
    assert isinstance(
        await apply(harness, "story", story, "status", "approved", "proposed"),
        StateChangeConfirmedData,
    )
    backlog = await harness.adapters.store.get("backlog", p)
    assert backlog is not None
    s4 = next(s for s in backlog.state["stories"] if s["id"] == "S4")
    assert (s4["priority"], s4["status"]) == (1, "proposed")
    assert isinstance(
        await apply(harness, "project", p, "name", p, "Renamed"), StateChangeConfirmedData
    )
    assert isinstance(
        await apply(harness, "project", p, "mode", "blocking", "autonomous"),
        StateChangeConfirmedData,
    )
    stored = await harness.adapters.store.get("project", p)
    assert stored is not None and stored.state["name"] == "Renamed"
    assert stored.state["mode"] == "autonomous"
    agent = f"{p}:QAAgent"
    assert isinstance(
        await apply(harness, "agent", agent, "status", "idle", "paused"), StateChangeConfirmedData
    )
    shown = await harness.wait_for(
        lambda e: e.event == "agent_status" and e.data.agent_id == "QAAgent"
    )
    assert shown.data.status == "paused"  # type: ignore[union-attr]
    [status] = changed(harness, "agent", agent, "status")[-1:]
    assert (status.old_value, status.new_value, status.source) == ("idle", "paused", "ui:s")


async def test_stale_version_non_member_and_bad_values_are_rejected(harness: Harness) -> None:
    p = await planned_sprint(harness, "ui-rejects")
    found = await snapshot(harness.adapters.store, "story", f"{p}:S1")
    assert found is not None
    now = found.state["priority"]
    other_value = 5 if now != 5 else 4
    stale = envelope("story", f"{p}:S1", "priority", now, other_value, found.version - 1)
    await publish(harness, stale)
    reason = await answer(harness, stale)
    assert isinstance(reason, str) and "changed meanwhile" in reason
    not_theirs = await apply(harness, "story", f"{p}:S1", "priority", now, other_value, user=BOB)
    assert not_theirs == f"story {p}:S1 not found"
    missing = envelope("story", f"{p}:S9", "priority", now, other_value, found.version)
    await publish(harness, missing)
    assert await answer(harness, missing) == f"story {p}:S9 not found"
    bad = await apply(harness, "story", f"{p}:S1", "priority", now, 9)
    assert isinstance(bad, str) and "1 to 5" in bad
    read_only = await apply(harness, "task", f"{p}:SP1:T1", "status", "pending", "done")
    assert isinstance(read_only, str) and "read-only" in read_only
    backlog = await harness.adapters.store.get("backlog", p)
    assert backlog is not None and backlog.version == found.version  # nothing written


async def test_racing_changes_exactly_one_wins(harness: Harness) -> None:
    """Two clients send the same change at the same version: one confirmed, one rejected."""
    p = await planned_sprint(harness, "ui-race")
    found = await snapshot(harness.adapters.store, "sprint", f"{p}:SP1")
    assert found is not None
    racers = [
        envelope("sprint", f"{p}:SP1", "status", "planned", "active", found.version, session_id=s)
        for s in ("tab-1", "tab-2")
    ]
    await asyncio.gather(*(publish(harness, r) for r in racers))
    answers = [await answer(harness, r) for r in racers]
    confirmed = [a for a in answers if isinstance(a, StateChangeConfirmedData)]
    rejected = [a for a in answers if isinstance(a, str)]
    assert len(confirmed) == 1 and len(rejected) == 1, answers
    assert "changed meanwhile" in rejected[0]
    starts = [e for e in harness.of("state_change") if e.data.new_state == "SPRINT_ACTIVE"]
    assert len(starts) == 1


async def test_a_redelivered_change_is_answered_the_same(harness: Harness) -> None:
    p = await planned_sprint(harness, "ui-redelivery")
    found = await snapshot(harness.adapters.store, "story", f"{p}:S1")
    assert found is not None
    now = found.state["priority"]
    change = envelope("story", f"{p}:S1", "priority", now, 5 if now != 5 else 4, found.version)
    await publish(harness, change)
    first = await answer(harness, change)
    assert isinstance(first, StateChangeConfirmedData)
    await publish(harness, change)

    def answers() -> list[DomainEvent]:
        return [
            e
            for e in harness.events
            if e.event == "state_change_confirmed" and e.correlation_id == change.request_id
        ]

    for _ in range(100):
        if len(answers()) == 2:
            break
        await asyncio.sleep(0.01)
    assert len({e.id for e in answers()}) == 1 and len(answers()) == 2  # same event, again
    backlog = await harness.adapters.store.get("backlog", p)
    assert backlog is not None and backlog.version == found.version + 1
