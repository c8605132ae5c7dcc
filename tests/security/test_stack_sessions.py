"""Revocation, refresh reuse, membership and throttling across processes (real Redis and broker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.client import Client
from tests.services_env import Backends
from tests.stack import Stack, run_stack

STACK_ENV = {"HUDDLE_LOGIN_FREE_FAILURES": "3", "HUDDLE_LOGIN_BACKOFF_BASE_S": "30"}


@pytest.fixture(scope="module")
def stack(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(backends, tmp_path_factory.mktemp("security-stack"), STACK_ENV) as running:
        yield running


async def pair(stack: Stack, username: str = "demo", password: str = "demo") -> dict[str, str]:
    async with httpx.AsyncClient(base_url=stack.url("auth")) as http:
        response = await http.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def closed_within(client: Client, seconds: float) -> int | None:
    started = time.monotonic()
    await asyncio.wait_for(client._reader, seconds)
    assert time.monotonic() - started < seconds
    return client.ws.close_code


async def test_logout_on_auth_closes_the_socket_on_the_gateway(stack: Stack) -> None:
    """Five processes: the socket closes 4401 within a second; every service refuses the token."""
    tokens = await pair(stack)
    client = await Client.connect(stack.ws_url, tokens["access_token"])
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with httpx.AsyncClient() as http:
        logout = await http.post(stack.url("auth") + "/auth/logout", headers=bearer)
        assert logout.status_code == 204
        assert await closed_within(client, 1.0) == 4401
        for url in (
            stack.url("auth") + "/auth/me",
            stack.url("orchestrator") + "/api/projects",
            stack.url("sync") + "/api/messages/demo/general",
        ):
            assert (await http.get(url, headers=bearer)).status_code == 401, url


async def test_a_replayed_refresh_token_ends_the_session_everywhere(stack: Stack) -> None:
    tokens = await pair(stack)
    async with httpx.AsyncClient(base_url=stack.url("auth")) as http:
        rotated = await http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert rotated.status_code == 200
        client = await Client.connect(stack.ws_url, rotated.json()["access_token"])
        replay = await http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert replay.status_code == 401
        assert await closed_within(client, 1.0) == 4401
        newest = rotated.json()["refresh_token"]
        assert (await http.post("/auth/refresh", json={"refresh_token": newest})).status_code == 401


async def test_membership_removed_on_auth_takes_effect_on_the_gateway(stack: Stack) -> None:
    admin = await pair(stack)
    headers = {"Authorization": f"Bearer {admin['access_token']}"}
    async with httpx.AsyncClient(base_url=stack.url("auth"), headers=headers) as http:
        created = await http.post(
            "/auth/users", json={"username": "erin", "password": "erin-long-password"}
        )
        assert created.status_code == 201, created.text
        erin_id = created.json()["id"]
        owner = await Client.connect(stack.ws_url, admin["access_token"])
        project = (await owner.command("/project register Shared Space"))["data"]["result"]
        project_id = project["project_id"]
        await owner.close()
        assert (await http.put(f"/auth/projects/{project_id}/members/{erin_id}")).status_code == 200
        erin = await Client.connect(
            stack.ws_url, (await pair(stack, "erin", "erin-long-password"))["access_token"]
        )
        ref = await erin.send("join_channel", {"project_id": project_id, "channel": "general"})
        joined = await erin.wait_for(lambda f: f.get("ref") == ref)
        assert joined["event"] == "joined_channel"
        removed = await http.delete(f"/auth/projects/{project_id}/members/{erin_id}")
        assert removed.status_code == 200
        notice = await erin.wait_for(lambda f: f["event"] == "error", within_s=2)
        assert notice["data"]["code"] == "forbidden"
        ref = await erin.send(
            "message", {"project_id": project_id, "channel": "general", "text": "x"}
        )
        refused = await erin.wait_for(lambda f: f.get("ref") == ref)
        assert refused["data"]["code"] == "forbidden"
        await erin.close()


async def test_login_throttling_is_shared_through_redis(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url("auth")) as http:
        statuses = [
            (
                await http.post("/auth/login", json={"username": "nobody", "password": "x"})
            ).status_code
            for _ in range(5)
        ]
    assert statuses[:3] == [401, 401, 401] and statuses[4] == 429
