"""Embedded mode (`python -m services`): one process, in-process adapters, the same contract."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.client import Client, login
from tests.flows import done_once, prepared_sprint, review, walking_skeleton
from tests.processes import free_port, running, wait_ready


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of an embedded Huddle with a short auth timeout and a small frame limit."""
    port = free_port()
    env = {
        "HUDDLE_PORT": str(port),
        "HUDDLE_AUTH_TIMEOUT_S": "1",
        "HUDDLE_MAX_FRAME_BYTES": "4096",
        "HUDDLE_SCRIPTED_PHASE_S": "0.05",
    }
    with running({"huddle": "services"}, env, tmp_path_factory.mktemp("embedded")) as processes:
        wait_ready(f"http://127.0.0.1:{port}/readyz", processes["huddle"])
        yield f"http://127.0.0.1:{port}"


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws"


async def test_walking_skeleton(embedded: str) -> None:
    """Login, /help, /project register, /epic and a chat message, all in one process."""
    await walking_skeleton(ws_url(embedded), embedded)


async def test_serves_the_web_client_and_its_config(embedded: str) -> None:
    """`/` is the browser client; `/config.json` says auth is on the same origin."""
    async with httpx.AsyncClient(base_url=embedded) as http:
        page = await http.get("/")
        config = (await http.get("/config.json")).json()
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert config == {
        "auth_url": "",
        "ws_path": "/ws",
        "sync_url": "",
        "orchestrator_url": "",
        "metrics_url": "",
    }


async def _closed_with(base: str, first_frame: str | None) -> int | None:
    async with websockets.connect(ws_url(base)) as ws:
        if first_frame is not None:
            await ws.send(first_frame)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_no_auth_frame_in_time_closes_4408(embedded: str) -> None:
    """A socket that stays silent past `HUDDLE_AUTH_TIMEOUT_S` is closed 4408."""
    assert await _closed_with(embedded, None) == 4408


@pytest.mark.parametrize(
    "first_frame",
    [
        json.dumps({"event": "auth", "data": {"token": "not-a-jwt"}}),
        json.dumps({"event": "ping", "data": {}}),
        "not json",
    ],
)
async def test_bad_first_frame_closes_4401(embedded: str, first_frame: str) -> None:
    """A bad token, or anything but `auth` first, is closed 4401."""
    assert await _closed_with(embedded, first_frame) == 4401


async def test_bad_frames_get_errors_and_the_socket_stays_open(embedded: str) -> None:
    """Malformed, unknown and over-long frames are answered with errors; ping still works."""
    client = await Client.connect(ws_url(embedded), await login(embedded))
    try:
        await client.ws.send("{not json")
        await client.ws.send(json.dumps({"event": "launch_rockets", "data": {}, "id": "u1"}))
        await client.ws.send(json.dumps({"event": "command", "data": {}, "id": "b1"}))
        await client.ws.send(
            json.dumps({"event": "command", "data": {"command": "/" + "x" * 2000}, "id": "t1"})
        )
        errors = {}
        for ref in ("u1", "b1", "t1"):
            frame = await client.wait_for(lambda f: f.get("ref") == ref)  # noqa: B023
            errors[ref] = frame["data"]["code"]
        assert errors == {"u1": "unknown_event", "b1": "bad_request", "t1": "too_large"}
        not_json = await client.wait_for(lambda f: f["event"] == "error" and "ref" not in f)
        assert not_json["data"] == {"code": "bad_request", "message": "frame is not valid JSON"}
        ref = await client.send("ping")
        pong = await client.wait_for(lambda f: f.get("ref") == ref)
        assert pong["event"] == "pong" and pong["data"]["server_time"] > 0
    finally:
        await client.close()


async def test_oversized_frame_closes_1009(embedded: str) -> None:
    """A frame above `HUDDLE_MAX_FRAME_BYTES` closes the socket 1009."""
    client = await Client.connect(ws_url(embedded), await login(embedded))
    await client.ws.send(json.dumps({"event": "ping", "data": {}, "pad": "x" * 5000}))
    await asyncio.wait_for(client._reader, 5)
    assert client.ws.close_code == 1009


async def test_joining_an_unknown_project_is_refused(embedded: str) -> None:
    """`join_channel` on a project that does not exist answers `forbidden`."""
    client = await Client.connect(ws_url(embedded), await login(embedded))
    try:
        ref = await client.send("join_channel", {"project_id": "nope", "channel": "general"})
        answer = await client.wait_for(lambda f: f.get("ref") == ref)
        assert answer["event"] == "error" and answer["data"]["code"] == "forbidden"
    finally:
        await client.close()


async def test_wrong_password_is_401_with_an_error_body(embedded: str) -> None:
    """A failed login says so, in the common error format."""
    async with httpx.AsyncClient(base_url=embedded) as http:
        response = await http.post("/auth/login", json={"username": "demo", "password": "wrong"})
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "unauthenticated", "message": "invalid username or password"}
    }


async def test_message_to_a_missing_channel_is_not_found(embedded: str) -> None:
    """A chat message to a channel the project lacks answers `not_found`, with its ref; once
    the channel is created the same socket may post there, without joining first."""
    client = await Client.connect(ws_url(embedded), await login(embedded))
    try:
        registered = await client.command("/project register channels-check")
        project_id = registered["data"]["result"]["project_id"]
        message = {"project_id": project_id, "channel": "later", "text": "x"}
        ref = await client.send("message", message)
        answer = await client.wait_for(lambda f: f.get("ref") == ref)
        assert answer["event"] == "error" and answer["data"]["code"] == "not_found"
        created = await client.command("/channel create later", project_id)
        assert created["data"]["ok"], created
        await client.send("message", message)
        ref = await client.send("join_channel", {"project_id": project_id, "channel": "later"})
        joined = await client.wait_for(lambda f: f.get("ref") == ref)
        assert joined["event"] == "joined_channel", joined
        history = joined["data"]["history"]
        if not history:  # the message may still be on its way to the history
            echoed = await client.wait_for(lambda f: f["event"] == "message")
            history = [echoed]
        assert [frame["data"]["text"] for frame in history] == ["x"]
    finally:
        await client.close()


async def test_a_full_sprint_in_embedded_mode(embedded: str) -> None:
    """The whole workflow runs in one process, seen by a second client."""
    token = await login(embedded)
    alice = await Client.connect(ws_url(embedded), token)
    bob = await Client.connect(ws_url(embedded), token)
    try:
        project_id = await prepared_sprint(alice, bob, "embedded-sprint")
        assert (await alice.command("/sprint start", project_id))["data"]["ok"]
        await bob.wait_for(review(project_id), within_s=30)
        done_once(bob.frames, project_id, 3)
        assert (await alice.command('/feedback "ok"', project_id))["data"][
            "current_state"
        ] == "IDLE"
    finally:
        await alice.close()
        await bob.close()
