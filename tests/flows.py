"""The walk every mode must pass: login, /help, /project register, /epic, a chat message."""

from __future__ import annotations

import uuid
from typing import Any

from tests.client import Client, Frame, login


async def walking_skeleton(ws_url: str, auth_base: str) -> None:
    """Drive one full round through whichever deployment serves these URLs."""
    token = await login(auth_base)
    alice = await Client.connect(ws_url, token)
    bob = await Client.connect(ws_url, token)
    try:
        help_result = await alice.command("/help")
        assert help_result["data"]["ok"] is True
        assert "/epic" in help_result["data"]["result"]["message"]

        name = f"demo-{uuid.uuid4().hex[:6]}"
        registered = await alice.command(f"/project register {name}")
        assert registered["data"]["ok"], registered
        project_id = registered["data"]["result"]["project_id"]
        assert project_id == name

        for client in (alice, bob):
            ref = await client.send(
                "join_channel", {"project_id": project_id, "channel": "general"}
            )
            joined = await client.wait_for(lambda f: f.get("ref") == ref)  # noqa: B023
            assert joined["event"] == "joined_channel", joined

        epic = await alice.command('/epic "User authentication"', project_id)
        assert epic["data"]["ok"], epic
        assert epic["data"]["current_state"] == "BACKLOG_READY"
        assert "/sprint plan" in epic["data"]["allowed_commands"]
        change = await bob.wait_for(lambda f: f["event"] == "state_change")
        assert change["data"] == {
            "project_id": project_id,
            "old_state": "IDLE",
            "new_state": "BACKLOG_READY",
            "reason": "/epic",
        }
        assert change["topic"] == f"project:{project_id}" and change["seq"] >= 1

        unknown = await alice.command("/bogus", project_id)
        assert unknown["data"]["error"] == "Unknown command: /bogus"
        assert unknown["data"]["hint"] == "Use /state to see available commands"

        await alice.send(
            "message", {"project_id": project_id, "channel": "general", "text": "hi bob"}
        )
        seen = await bob.wait_for(lambda f: f["event"] == "message")
        assert seen["data"]["text"] == "hi bob" and seen["data"]["user"]["username"] == "demo"
        assert seen["topic"] == f"channel:{project_id}/general"
        await alice.wait_for(lambda f: f["event"] == "message")
    finally:
        await alice.close()
        await bob.close()


async def prepared_sprint(alice: Client, bob: Client, name: str) -> str:
    """A project with an approved backlog and a planned sprint, both clients in #general."""
    registered = await alice.command(f"/project register {name}")
    assert registered["data"]["ok"], registered
    project_id: str = registered["data"]["result"]["project_id"]
    for client in (alice, bob):
        ref = await client.send("join_channel", {"project_id": project_id, "channel": "general"})
        await client.wait_for(lambda f, ref=ref: f.get("ref") == ref)  # type: ignore[misc]
    assert (await alice.command("/project mode autonomous", project_id))["data"]["ok"]
    assert (await alice.command('/epic "User authentication"', project_id))["data"]["ok"]
    await bob.wait_for(
        lambda f: (
            f["event"] == "agent_response"
            and f["data"]["project_id"] == project_id
            and "Proposed" in f["data"]["message"]
        )
    )
    approved = await alice.command("/approve", project_id)
    assert approved["data"]["ok"], approved
    planned = await alice.command("/sprint plan", project_id)
    assert planned["data"]["current_state"] == "SPRINT_PLANNED", planned
    return project_id


def review(project_id: str) -> Any:
    return lambda f: (
        f["event"] == "state_change"
        and f["data"]["project_id"] == project_id
        and f["data"]["new_state"] == "SPRINT_REVIEW"
    )


def distinct(frames: list[Frame], event: str) -> list[Frame]:
    """Frames of one event, one per (topic, seq): a redelivered event repeats its seq."""
    seen: dict[tuple[str, int], Frame] = {}
    for frame in frames:
        if frame["event"] == event:
            seen.setdefault((frame["topic"], frame["seq"]), frame)
    return list(seen.values())


def done_once(frames: list[Frame], project_id: str, tasks: int) -> None:
    titles = [
        f["data"]["title"]
        for f in distinct(frames, "notification")
        if f["data"]["project_id"] == project_id and f["data"]["title"].endswith(" done")
    ]
    assert sorted(titles) == [f"Task T{i} done" for i in range(1, tasks + 1)]
