"""The command table and the rejections it produces."""

from __future__ import annotations

import pytest

from services.orchestrator.agents.provider import agent_for
from services.orchestrator.workflow import COMMANDS, State, allowed_commands, rejection


@pytest.mark.parametrize(
    ("command", "state", "hint"),
    [
        ("/sprint start", State.IDLE, "No sprint planned. Use /epic then /sprint plan first."),
        (
            "/sprint plan",
            State.SPRINT_ACTIVE,
            "Sprint already active. Use /sprint status or /sprint pause.",
        ),
        ("/sprint start", State.SPRINT_ACTIVE, "Sprint already active. Use /sprint status."),
        *(
            (
                "/epic",
                state,
                "Cannot create an epic during a sprint. Add a story with /backlog add_story, "
                "or create the epic once the sprint is reviewed (/feedback).",
            )
            for state in (State.SPRINT_ACTIVE, State.SPRINT_PAUSED)
        ),
        ("/feedback", State.IDLE, "Try when in states: SPRINT_REVIEW"),
        ("/approve", State.IDLE, "Try when in states: BACKLOG_READY, SPRINT_ACTIVE, BLOCKED"),
    ],
)
def test_rejections_have_specific_hints(command: str, state: State, hint: str) -> None:
    error, given = rejection(COMMANDS[command], state)
    assert error == f"Command {command} not allowed in state {state.value}"
    assert given == hint


def test_backlog_is_frozen_during_review() -> None:
    error, _ = rejection(COMMANDS["/backlog add_story"], State.SPRINT_REVIEW)
    assert error == "Backlog modifications not allowed during sprint review"


def test_allowed_in_idle() -> None:
    """IDLE allows /epic and the always-available commands, not sprint commands."""
    allowed = allowed_commands(State.IDLE)
    assert "/epic" in allowed and "/state" in allowed and "/help" in allowed
    assert "/sprint start" not in allowed and "/status" not in allowed
    assert "/status" in allowed_commands(State.IDLE, admin=True)


def test_every_state_allows_state_and_help() -> None:
    for state in State:
        assert {"/state", "/help", "/project register"} <= set(allowed_commands(state))


@pytest.mark.parametrize(
    ("phase", "title", "agent"),
    [
        ("DESIGN", "Design the data model", "DesignAgent"),
        ("TEST_RED", "Design the data model", "QAAgent"),
        ("CODE_GREEN", "Design the data model", "DataAgent"),
        ("COMMIT", "Nightly ETL pipeline", "DataAgent"),
        ("CODE_GREEN", "Login form", "CodeAgent"),
    ],
)
def test_which_agent_does_a_phase(phase: str, title: str, agent: str) -> None:
    """Design by the DesignAgent, tests by QA, code by Code — or Data for data work."""
    assert agent_for(phase, title) == agent
