"""The workflow through five processes: a full sprint, a crashed orchestrator, two orchestrators."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.client import Client, login
from tests.flows import distinct, done_once, prepared_sprint, review
from tests.processes import free_port, wait_ready
from tests.services_env import Backends
from tests.stack import Stack, run_stack

PHASE_S = 0.3


@pytest.fixture(scope="module")
def stack(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"HUDDLE_SCRIPTED_PHASE_S": str(PHASE_S)}
    with run_stack(backends, tmp_path_factory.mktemp("workflow"), env) as running_stack:
        yield running_stack


async def clients(stack: Stack) -> tuple[Client, Client]:
    token = await login(stack.url("auth"))
    return await Client.connect(stack.ws_url, token), await Client.connect(stack.ws_url, token)


async def sprints_of(stack: Stack, token: str, project_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack.url("orchestrator")) as http:
        response = await http.get(
            f"/api/projects/{project_id}/sprints", headers={"Authorization": f"Bearer {token}"}
        )
    response.raise_for_status()
    sprints: list[dict[str, Any]] = response.json()
    return sprints


async def sprint_tasks(stack: Stack, token: str, project_id: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = (await sprints_of(stack, token, project_id))[0]["tasks"]
    return tasks


async def test_full_sprint_seen_live_by_a_second_client(stack: Stack) -> None:
    """register → epic → approve → plan → start → review → feedback → IDLE; bob sees progress."""
    alice, bob = await clients(stack)
    try:
        project_id = await prepared_sprint(alice, bob, "live-sprint")
        assert (await alice.command("/sprint start", project_id))["data"]["ok"]
        await bob.wait_for(review(project_id), within_s=30)
        progress = [
            f["data"]["progress"]
            for f in distinct(bob.frames, "agent_status")
            if f["data"].get("task") == "T1" and f["data"]["status"] == "working"
        ]
        assert progress == sorted(progress) and progress[0] == 0 and progress[-1] >= 80
        done_once(bob.frames, project_id, 3)
        feedback = await alice.command('/feedback "Ship it"', project_id)
        assert feedback["data"]["current_state"] == "IDLE"
        idle = await bob.wait_for(
            lambda f: f["event"] == "state_change" and f["data"]["new_state"] == "IDLE"
        )
        assert idle["data"]["reason"] == "/feedback"
        closed = await sprints_of(stack, await login(stack.url("auth")), project_id)
        assert [(s["id"], s["status"]) for s in closed] == [("SP1", "closed")]
    finally:
        await alice.close()
        await bob.close()


async def test_orchestrator_killed_mid_sprint_finishes_every_task_once(stack: Stack) -> None:
    """kill -9 during a phase; the restarted orchestrator resumes; each task is done once."""
    token = await login(stack.url("auth"))
    alice, bob = await clients(stack)
    try:
        project_id = await prepared_sprint(alice, bob, "crash-sprint")
        assert (await alice.command("/sprint start", project_id))["data"]["ok"]
        await bob.wait_for(
            lambda f: (
                f["event"] == "agent_status"
                and f["data"].get("task") == "T2"
                and f["data"]["status"] == "working"
            ),
            within_s=30,
        )
        stack.processes.kill("orchestrator")
        await asyncio.sleep(PHASE_S)
        restarted = stack.processes.start("orchestrator", "services.orchestrator")
        wait_ready(stack.url("orchestrator") + "/readyz", restarted)
        await bob.wait_for(review(project_id), within_s=60)
        tasks = await sprint_tasks(stack, token, project_id)
        assert [t["status"] for t in tasks] == ["done", "done", "done"]
        done_once(bob.frames, project_id, 3)
        commits = [
            f for f in distinct(bob.frames, "agent_response") if "· COMMIT]" in f["data"]["message"]
        ]
        assert len(commits) == 3
    finally:
        await alice.close()
        await bob.close()


async def test_two_orchestrators_keep_projects_consistent(stack: Stack) -> None:
    """A second orchestrator competes for the same queue; two sprints finish cleanly."""
    token = await login(stack.url("auth"))
    port = free_port()
    second = stack.processes.start(
        "orchestrator-2", "services.orchestrator", HUDDLE_ORCHESTRATOR_PORT=str(port)
    )
    wait_ready(f"http://127.0.0.1:{port}/readyz", second)
    alice, bob = await clients(stack)
    try:
        projects = [await prepared_sprint(alice, bob, f"twin-{i}") for i in range(2)]
        for project_id in projects:
            assert (await alice.command("/sprint start", project_id))["data"]["ok"]
        for project_id in projects:
            await bob.wait_for(review(project_id), within_s=60)
            tasks = await sprint_tasks(stack, token, project_id)
            assert [t["status"] for t in tasks] == ["done", "done", "done"]
            done_once(bob.frames, project_id, 3)
    finally:
        await alice.close()
        await bob.close()
        second.terminate()
        second.wait(timeout=15)
