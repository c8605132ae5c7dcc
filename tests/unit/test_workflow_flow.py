"""The workflow end to end on in-process adapters: backlog, sprints, agents, gates, failures."""

from __future__ import annotations

import asyncio

from services.common.bus import Delivery
from services.common.contracts import CommandEnvelope, DomainEvent, NotificationEvent
from services.common.jsonutil import dumps
from services.orchestrator.agents.scripted import ScriptedProvider
from tests.harness import ALICE, BOB, Harness


async def project_with_stories(h: Harness, name: str, mode: str = "autonomous") -> str:
    assert (await h.command(f"/project register {name}")).ok
    assert (await h.command(f"/project mode {mode}", name)).ok
    assert (await h.command('/epic "User login"', name)).ok
    await h.wait_for(lambda e: e.event == "agent_response" and "Proposed" in e.data.message)
    return name


async def sprint_started(h: Harness, name: str, mode: str = "autonomous") -> str:
    """A project whose sprint of one story (S1) has just started."""
    p = await project_with_stories(h, name, mode)
    for command in ("/approve S1", "/sprint plan S1", "/sprint start"):
        assert (await h.command(command, p)).ok, command
    return p


def blocked_notice(event: DomainEvent) -> bool:
    return event.event == "notification" and "is blocked" in event.data.title


def transitions(h: Harness, project_id: str) -> list[str]:
    return [e.data.new_state for e in h.of("state_change") if e.data.project_id == project_id]


def review_reached(event: DomainEvent) -> bool:
    return event.event == "state_change" and event.data.new_state == "SPRINT_REVIEW"


async def test_happy_path_to_review_and_back_to_idle(harness: Harness) -> None:
    """register → epic → approve → plan → start → every task done → review → feedback → IDLE."""
    p = await project_with_stories(harness, "happy")
    approved = await harness.command("/approve", p)
    assert (
        approved.ok
        and approved.result is not None
        and approved.result["approved"] == ["S1", "S2", "S3"]
    )
    planned = await harness.command("/sprint plan", p)
    assert planned.ok and planned.current_state == "SPRINT_PLANNED"
    assert planned.result is not None
    assert [t["story_id"] for t in planned.result["tasks"]] == ["S2", "S1", "S3"]  # by priority
    assert (await harness.command("/sprint start", p)).ok
    await harness.wait_for(review_reached)
    notices = harness.of("notification")
    titles = [e.data.title for e in notices]
    started = notices[titles.index("Sprint SP1 started")]
    assert not any(t.startswith("Task") for t in titles[: titles.index(started.data.title)])
    assert (started.data.type, started.data.title) == ("success", "Sprint SP1 started")
    assert started.data.message == "alice started sprint SP1: 3 tasks are now active."
    assert [a.command for a in started.data.actions or []] == ["/sprint status", "/sprint pause"]
    done = [e for e in notices if e.data.title.endswith(" done")]
    assert sorted(e.data.title for e in done) == ["Task T1 done", "Task T2 done", "Task T3 done"]
    phases = [
        e.data.phase
        for e in harness.of("agent_status")
        if e.data.task == "T1" and e.data.status == "working"
    ]
    assert list(dict.fromkeys(phases)) == ["DESIGN", "TEST_RED", "CODE_GREEN", "REFACTOR", "COMMIT"]
    feedback = await harness.command('/feedback "Great sprint"', p)
    assert feedback.ok and feedback.current_state == "IDLE"
    assert transitions(harness, p) == [
        "BACKLOG_READY",
        "SPRINT_PLANNED",
        "SPRINT_ACTIVE",
        "SPRINT_REVIEW",
        "IDLE",
    ]
    backlog = await harness.adapters.store.get("backlog", p)
    assert backlog is not None and {s["status"] for s in backlog.state["stories"]} == {"done"}
    sprint = await harness.adapters.store.get("sprint", f"{p}:SP1")
    assert sprint is not None and sprint.state["retrospective"] == "Great sprint"


async def test_blocking_mode_waits_for_approval_of_each_task(harness: Harness) -> None:
    p = await project_with_stories(harness, "gated", mode="blocking")
    await harness.command("/approve S1", p)
    await harness.command("/sprint plan S1", p)
    started = await harness.command("/sprint start", p)
    assert started.ok
    waiting = await harness.wait_for(
        lambda e: e.event == "notification" and "waits for your approval" in e.data.title
    )
    announced = next(e for e in harness.of("notification") if e.data.title == "Sprint SP1 started")
    assert announced.data.message == (
        "alice started sprint SP1: 1 task is now active. "
        "Each task waits for /approve (blocking mode)."
    )
    assert waiting.event == "notification" and waiting.data.actions is not None
    assert [getattr(a, "command", None) for a in waiting.data.actions] == [
        "/approve T1",
        "/sprint pause",
    ]
    state = await harness.command("/state", p)
    assert state.result is not None and state.result["pending_approvals"][0]["id"] == "T1"
    assert not harness.of("agent_response") or all(
        "T1 ·" not in e.data.message for e in harness.of("agent_response")
    )
    assert (await harness.command("/approve T1", p)).ok
    await harness.wait_for(review_reached)


async def test_partial_mode_asks_before_commit(harness: Harness) -> None:
    p = await sprint_started(harness, "partial", mode="partial")
    await harness.wait_for(
        lambda e: e.event == "notification" and "waits for your approval" in e.data.title
    )
    sprint = await harness.adapters.store.get("sprint", f"{p}:SP1")
    assert sprint is not None and sprint.state["tasks"][0]["phase"] == "COMMIT"
    assert (await harness.command("/approve", p)).ok
    await harness.wait_for(review_reached)


async def test_nothing_to_approve(harness: Harness) -> None:
    """/approve with nothing pending says so, with the hint of the table."""
    p = await project_with_stories(harness, "approved")
    assert (await harness.command("/approve", p)).ok
    result = await harness.command("/approve", p)
    assert (result.ok, result.error) == (False, "No items pending approval")
    # Not "/sprint status": that is refused in BACKLOG_READY.
    assert (
        result.hint == "No proposed story waits for approval. Next: /sprint plan, or /backlog view."
    )


async def test_approve_is_allowed_only_while_something_waits(harness: Harness) -> None:
    """`/state` (and the state API, which reads the same) leave `/approve` and its button out
    when nothing waits for approval, as ARCHITECTURE.md's table has it."""

    async def offers_approve(p: str) -> bool:
        state = await harness.command("/state", p)
        assert state.result is not None and state.interactive_elements is not None
        buttons = [getattr(e, "command", None) for e in state.interactive_elements]
        assert ("/approve" in buttons) == ("/approve" in state.result["allowed_commands"])
        return "/approve" in state.result["allowed_commands"]

    p = await project_with_stories(harness, "waits", mode="blocking")
    assert await offers_approve(p)  # proposed stories
    assert (await harness.command("/approve", p)).ok
    assert not await offers_approve(p)  # BACKLOG_READY, nothing proposed
    assert (await harness.command("/sprint plan", p)).ok
    assert (await harness.command("/sprint start", p)).ok
    await harness.wait_for(
        lambda e: e.event == "notification" and "waits for your approval" in e.data.title
    )
    assert await offers_approve(p)  # a task at its gate

    unknown = await harness.command("/approve S9", p)
    assert unknown.error == "Not pending approval: S9"


async def test_blocked_then_suggest_fix_recovers() -> None:
    h = await Harness.start(provider=ScriptedProvider(phase_s=0, failure_rate=1.0, ticks=1))
    try:
        p = await sprint_started(h, "flaky")
        blocked = await h.wait_for(blocked_notice)
        assert blocked.event == "notification" and blocked.data.type == "error"
        assert await h.state_of(p) == "BLOCKED"
        failures = [e for e in h.of("agent_response") if "attempt failed" in e.data.message]
        assert len(failures) == 2  # the third failure blocks instead of retrying
        status = await h.command("/sprint status", p)
        assert status.ok and status.result is not None and status.result["failed"] == 1
        fixed = await h.command('/suggest_fix "mock the clock"', p)
        assert fixed.ok and fixed.current_state == "SPRINT_ACTIVE"
        await h.wait_for(review_reached)
        sprint = await h.adapters.store.get("sprint", f"{p}:SP1")
        assert sprint is not None and sprint.state["tasks"][0]["status"] == "done"
    finally:
        await h.stop()


async def test_blocked_then_skip_task_moves_on() -> None:
    h = await Harness.start(provider=ScriptedProvider(phase_s=0, failure_rate=1.0, ticks=1))
    try:
        p = await sprint_started(h, "skippy")
        await h.wait_for(blocked_notice)
        skipped = await h.command("/skip_task", p)
        assert skipped.ok
        await h.wait_for(review_reached)
        backlog = await h.adapters.store.get("backlog", p)
        assert backlog is not None
        assert next(s for s in backlog.state["stories"] if s["id"] == "S1")["status"] == "approved"
    finally:
        await h.stop()


async def test_pause_stops_at_a_phase_boundary_and_resume_continues() -> None:
    h = await Harness.start(provider=ScriptedProvider(phase_s=0.2, failure_rate=0, ticks=1))
    try:
        p = await sprint_started(h, "pausable")
        paused = await h.command("/sprint pause", p)
        assert paused.ok and paused.current_state == "SPRINT_PAUSED"
        await h.wait_for(lambda e: e.event == "agent_status" and e.data.status == "paused")
        sprint = await h.adapters.store.get("sprint", f"{p}:SP1")
        assert sprint is not None and sprint.state["tasks"][0]["status"] == "paused"
        assert sprint.state["tasks"][0]["phase"] == "TEST_RED"  # DESIGN finished, nothing after it
        assert (await h.command("/sprint resume", p)).ok
        await h.wait_for(review_reached)
    finally:
        await h.stop()


async def test_request_changes_adds_a_top_story(harness: Harness) -> None:
    p = await sprint_started(harness, "changes")
    await harness.wait_for(review_reached)
    changed = await harness.command('/request_changes "Support SSO"', p)
    assert changed.ok and changed.current_state == "BACKLOG_READY"
    assert changed.result is not None and changed.result["story"]["priority"] == 1
    planned = await harness.command("/sprint plan", p)
    assert planned.result is not None and planned.result["tasks"][0]["title"] == "Support SSO"


async def test_backlog_commands(harness: Harness) -> None:
    assert (await harness.command("/project register books")).ok
    added = await harness.command('/backlog add_story "Search by title" high', "books")
    assert added.ok and added.result is not None and added.result["story"]["priority"] == 2
    notices = [e.data for e in harness.events if isinstance(e, NotificationEvent)]
    assert (notices[-1].title, notices[-1].message) == (
        "Story S1 added",
        "alice added S1: Search by title (P2)",
    )
    bad = await harness.command('/backlog add_story "x" urgent', "books")
    assert bad.error == "Priority 'urgent' is not 1-5 or top/high/medium/low"
    assert (await harness.command("/backlog prioritize S1 top", "books")).ok
    view = await harness.command("/backlog view", "books")
    assert view.result is not None and "[P1] Search by title" in view.result["message"]
    missing = await harness.command("/backlog remove S7", "books")
    assert missing.error == "Story S7 not found"
    assert (await harness.command("/backlog remove S1", "books")).ok
    empty = await harness.command("/epic", "books")
    assert empty.error == "Epic description is required"


async def test_state_answers_with_buttons(harness: Harness) -> None:
    assert (await harness.command("/project register buttons")).ok
    state = await harness.command("/state", "buttons")
    assert state.interactive_elements is not None
    commands = [getattr(e, "command", None) for e in state.interactive_elements]
    assert "/backlog view" in commands and "/sprint start" not in commands


async def test_agent_message_gets_an_answer(harness: Harness) -> None:
    assert (await harness.command("/project register chatty")).ok
    await harness.send("Please use pytest", "chatty", kind="agent_message", agent_id="QAAgent")
    answer = await harness.wait_for(
        lambda e: e.event == "agent_response" and e.data.agent_id == "QAAgent"
    )
    assert answer.event == "agent_response" and "Please use pytest" in answer.data.message


async def test_agents_lists_every_agent(harness: Harness) -> None:
    assert (await harness.command("/project register team")).ok
    agents = await harness.command("/agents", "team")
    assert agents.result is not None
    assert [a["agent_id"] for a in agents.result["agents"]] == [
        "DesignAgent",
        "QAAgent",
        "CodeAgent",
        "DataAgent",
    ]


async def test_non_members_see_nothing(harness: Harness) -> None:
    assert (await harness.command("/project register secret")).ok
    result = await harness.command("/state", "secret", user=BOB)
    assert result.error == "Project secret not found" and result.current_state is None
    listed = await harness.command("/project list", user=BOB)
    assert listed.result is not None and listed.result["projects"] == []


async def test_a_redelivered_command_has_no_second_effect(harness: Harness) -> None:
    """The same command twice: one epic, and the same events published again."""
    assert (await harness.command("/project register twice")).ok
    command_id = await harness.send('/epic "Once"', "twice")
    await harness.wait_for(
        lambda e: e.event == "command_result" and e.data.command_id == command_id
    )
    before = [e.id for e in harness.events if e.correlation_id == command_id]
    original = next(
        e for e in harness.events if e.correlation_id == command_id and e.event == "command_result"
    )
    assert original.event == "command_result"
    envelope = CommandEnvelope.model_validate(
        {
            "command_id": command_id,
            "kind": "command",
            "user": ALICE,
            "session_id": "s",
            "text": '/epic "Once"',
            "project_id": "twice",
            "channel": "general",
            "issued_at": original.issued_at,
        }
    )
    await harness.service.on_message(
        Delivery(dumps(envelope), "cmd.command", command_id, None, True)
    )
    await asyncio.sleep(0.1)  # the republished events travel through the bus
    again = [e.id for e in harness.events if e.correlation_id == command_id]
    assert again == before + before
    backlog = await harness.adapters.store.get("backlog", "twice")
    assert backlog is not None and len(backlog.state["epics"]) == 1
