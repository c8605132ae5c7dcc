"""The five services as separate processes on the real RabbitMQ and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.client import Client, login
from tests.flows import walking_skeleton
from tests.services_env import Backends
from tests.stack import SERVICES, Stack, run_stack


@pytest.fixture(scope="module")
def stack(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A whole stack in a namespace of its own, removed afterwards."""
    with run_stack(backends, tmp_path_factory.mktemp("stack-logs")) as running_stack:
        yield running_stack


async def test_walking_skeleton(stack: Stack) -> None:
    """Login, /help, /project register, /epic and a chat message, through five processes."""
    await walking_skeleton(stack.ws_url, stack.url("auth"))


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_healthy_ready_and_measured(stack: Stack, service: str) -> None:
    """`/healthz`, `/readyz` and `/metrics` answer on every service."""
    assert httpx.get(stack.url(service) + "/healthz").json() == {"status": "ok"}
    assert httpx.get(stack.url(service) + "/readyz").json() == {"status": "ready"}
    metrics = httpx.get(stack.url(service) + "/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    for family in ("huddle_process_cpu_seconds_total", "huddle_process_resident_memory_bytes"):
        assert f"\n{family} " in metrics.text


async def test_metrics_count_commands_by_outcome(stack: Stack) -> None:
    """The metrics service counts results and records their latency."""
    client = await Client.connect(stack.ws_url, await login(stack.url("auth")))
    try:
        await client.command("/help")
        await client.command("/nonsense")
    finally:
        await client.close()
    async with httpx.AsyncClient() as http:
        for _ in range(50):
            text = (await http.get(stack.url("metrics") + "/metrics")).text
            if 'huddle_commands_total{command="unknown",outcome="rejected"}' in text:
                break
            await asyncio.sleep(0.1)
    assert 'huddle_commands_total{command="/help",outcome="ok"}' in text
    assert 'huddle_command_latency_seconds_count{command="/help"}' in text


async def test_client_config_points_at_auth(stack: Stack) -> None:
    """The gateway tells the browser where auth and the HTTP APIs are (their own ports)."""
    async with httpx.AsyncClient() as http:
        config = (await http.get(stack.url("gateway") + "/config.json")).json()
    assert config == {
        "auth_url": stack.url("auth"),
        "ws_path": "/ws",
        "sync_url": stack.url("sync"),
        "orchestrator_url": stack.url("orchestrator"),
        "metrics_url": stack.url("metrics"),
    }


def test_auth_allows_the_web_client_origin(stack: Stack) -> None:
    """CORS on auth lets the web client served by the gateway log in, and no other origin."""
    origin = stack.url("gateway")
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    response = httpx.options(stack.url("auth") + "/auth/login", headers=preflight)
    assert response.headers["access-control-allow-origin"] == origin
    preflight["Origin"] = "http://evil.example"
    response = httpx.options(stack.url("auth") + "/auth/login", headers=preflight)
    assert "access-control-allow-origin" not in response.headers


async def test_orchestrator_http_api(stack: Stack) -> None:
    """Projects, state, backlog, sprints and agents over HTTP, with the bearer token checked."""
    token = await login(stack.url("auth"))
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.url("orchestrator"), headers=auth) as http:
        created = await http.post("/api/projects", json={"name": "Http Project"})
        assert created.status_code == 201, created.text
        assert created.json()["id"] == "http-project" and created.json()["state"] == "IDLE"
        again = await http.post("/api/projects", json={"name": "Http Project"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
        assert "http-project" in [p["id"] for p in (await http.get("/api/projects")).json()]
        state = (await http.get("/api/projects/http-project/state")).json()
        assert state["state"] == "IDLE" and "/epic" in state["allowed_commands"]
        assert state["pending_approvals"] == [] and state["mode"] == "blocking"
        backlog = (await http.get("/api/projects/http-project/backlog")).json()
        assert backlog == {"epics": [], "stories": []}
        assert (await http.get("/api/projects/http-project/sprints")).json() == []
        agents = (await http.get("/api/agents")).json()
        assert agents["pool_size"] == 4
        assert any(p["project_id"] == "http-project" for p in agents["projects"])
        missing = await http.get("/api/projects/nope/state")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        anonymous = await http.get("/api/projects", headers={"Authorization": ""})
        assert anonymous.status_code == 401
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert {"/api/projects", "/api/projects/{project_id}/sprints", "/api/agents"} <= set(paths)
