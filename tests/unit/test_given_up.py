"""A command, UI change or agent step that fails on every delivery is answered or counted as
a failure before it is set aside.

Before, it went to the dead letters in silence and the client waited for ever.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.common.bus import MemoryBus
from services.common.contracts import CommandResultData, StateChangeRejectedData
from services.orchestrator.agents.provider import PhaseRequest, PhaseResult, Progress
from services.orchestrator.agents.scripted import ScriptedProvider
from tests.harness import Harness
from tests.unit.test_entity_changes import answer, envelope, publish
from tests.unit.test_workflow_flow import blocked_notice, sprint_started

LIMIT = 2  # the delivery limit: 3 deliveries in all


@pytest.fixture
async def failing() -> Any:
    """An orchestrator whose every decision fails (a bug, say), with attempts counted."""
    harness = await Harness.start(delivery_limit=LIMIT)
    attempts: list[str] = []

    async def broken(*args: Any) -> Any:
        attempts.append("x")
        raise RuntimeError("a bug in a handler")

    assert harness.service._domain is not None and harness.service._changes is not None
    harness.service._domain.handle = broken  # type: ignore[method-assign,assignment]
    harness.service._changes.decide = broken  # type: ignore[method-assign,assignment]
    yield harness, attempts
    await harness.stop()


async def test_a_command_failing_every_time_is_answered_then_dead_lettered(failing: Any) -> None:
    harness, attempts = failing
    result = await harness.command('/epic "Search"', "p")
    assert isinstance(result, CommandResultData)
    assert (result.ok, result.command) == (False, "/epic")
    assert result.error is not None and "set aside for the operators" in result.error
    assert result.command_id in result.error and result.hint is not None
    assert len(attempts) == LIMIT + 1  # answered only once the last attempt failed too
    bus = harness.adapters.bus
    assert isinstance(bus, MemoryBus) and len(bus.dead_letters) == 1

    chat_id = await harness.send("hello", "p", kind="message")
    chat = await harness.wait_for(
        lambda e: e.event == "command_result" and e.data.command_id == chat_id
    )
    assert isinstance(chat.data, CommandResultData) and chat.data.command == "message"


async def test_a_ui_change_failing_every_time_is_rejected_with_the_reason(failing: Any) -> None:
    harness, attempts = failing
    change = envelope("task", "p:SP1:T1", "status", "todo", "done", 1)
    await publish(harness, change)
    reason = await answer(harness, change)
    assert isinstance(reason, str) and "set aside for the operators" in reason
    assert change.request_id in reason
    assert len(attempts) == LIMIT + 1
    rejected = [e for e in harness.events if e.event == "state_change_rejected"]
    assert len(rejected) == 1 and isinstance(rejected[0].data, StateChangeRejectedData)


class BrokenPhases(ScriptedProvider):
    """Proposes stories, then raises on every phase: a bug, not a failure it reports."""

    async def run_phase(self, request: PhaseRequest, progress: Progress) -> PhaseResult:
        raise RuntimeError("a bug in the provider")


async def test_a_step_failing_every_time_counts_as_a_failed_attempt_not_a_hang() -> None:
    """Set aside after its last delivery, a step is a failed attempt of its task: the agent says
    so, the task is retried, and after `HUDDLE_TASK_MAX_FAILURES` the project is blocked."""
    h = await Harness.start(provider=BrokenPhases(phase_s=0, ticks=1), delivery_limit=1)
    try:
        p = await sprint_started(h, "buggy")
        blocked = await h.wait_for(blocked_notice)
        assert blocked.event == "notification" and "set aside" in blocked.data.message
        assert await h.state_of(p) == "BLOCKED"
        failures = [
            e.data.message for e in h.of("agent_response") if "attempt failed" in e.data.message
        ]
        assert len(failures) == 2 and all("could not run this step" in m for m in failures)
        bus = h.adapters.bus
        assert isinstance(bus, MemoryBus) and len(bus.dead_letters) == 3
    finally:
        await h.stop()
