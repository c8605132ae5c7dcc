"""Every (state, command) pair of the command table: accepted, or refused with the exact words."""

from __future__ import annotations

import pytest

from services.common.store import Write
from services.orchestrator.workflow import COMMANDS, State, rejection
from tests.harness import ADMIN, Harness

# Arguments that make each command well-formed, so only the state decides.
ARGS = {
    "/epic": ' "Search"',
    "/suggest_fix": ' "try again"',
    "/feedback": ' "fine"',
    "/request_changes": ' "more tests"',
    "/backlog add_story": ' "A story"',
    "/backlog prioritize": " S1 high",
    "/backlog remove": " S1",
    "/project register": " another",
    "/project mode": " autonomous",
}
PAIRS = [(state, name) for state in State for name in COMMANDS]


@pytest.mark.parametrize(("state", "name"), PAIRS, ids=[f"{s.value}-{n}" for s, n in PAIRS])
async def test_command_in_state(harness: Harness, state: State, name: str) -> None:
    """Allowed: answered without a state error. Not allowed: the table's error and hint."""
    project_id = f"p-{state.value.lower().replace('_', '-')}-{abs(hash(name)) % 10**8}"
    registered = await harness.command(f"/project register {project_id}", user=ADMIN)
    assert registered.ok, registered
    project = await harness.adapters.store.get("project", project_id)
    assert project is not None
    await harness.adapters.store.commit(
        [Write("project", project_id, {**project.state, "state": state.value}, project.version)]
    )
    result = await harness.command(name + ARGS.get(name, ""), project_id, user=ADMIN)
    spec = COMMANDS[name]
    if state in spec.allowed_in:
        assert "not allowed in state" not in (result.error or ""), result
        if spec.needs_project:
            assert result.current_state is not None
    else:
        error, hint = rejection(spec, state)
        assert (result.ok, result.error, result.hint) == (False, error, hint)
        assert result.current_state == state.value
        assert result.allowed_commands is not None and name not in result.allowed_commands
