"""The walk every mode must pass: login, /help, /project register, /epic, a chat message."""

from __future__ import annotations

import uuid

from tests.client import Client, login


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
