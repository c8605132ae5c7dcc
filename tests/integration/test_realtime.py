"""Real-time guarantees on the stack: resume after a disconnect, typing, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.client import Client, Frame, login
from tests.services_env import Backends
from tests.stack import Stack, run_stack
from tests.users import add_member

EVENTS = 1000


@pytest.fixture(scope="module")
def stack(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"HUDDLE_RATE_LIMIT_PER_S": "5000", "HUDDLE_RATE_LIMIT_BURST": "5000"}
    with run_stack(backends, tmp_path_factory.mktemp("realtime"), env) as running_stack:
        yield running_stack


async def joined_pair(stack: Stack, name: str) -> tuple[Client, Client, str]:
    token = await login(stack.url("auth"))
    alice = await Client.connect(stack.ws_url, token)
    bob = await Client.connect(stack.ws_url, token)
    registered = await alice.command(f"/project register {name}")
    project_id: str = registered["data"]["result"]["project_id"]
    for client in (alice, bob):
        ref = await client.send("join_channel", {"project_id": project_id, "channel": "general"})
        await client.wait_for(lambda f, ref=ref: f.get("ref") == ref)  # type: ignore[misc]
    return alice, bob, project_id


def chat(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f["event"] == "message"]


async def test_a_client_that_was_away_gets_every_missed_event_once_in_order(stack: Stack) -> None:
    """Disconnect, 1,000 events, reconnect with resume: all 1,000 arrive once, in order."""
    alice, bob, project_id = await joined_pair(stack, "resume-1000")
    try:
        await bob.ws.close()
        before = len(bob.frames)
        for i in range(EVENTS):
            await alice.send(
                "message", {"project_id": project_id, "channel": "general", "text": f"m{i}"}
            )
        await alice.wait_for(
            lambda f: f["event"] == "message" and f["data"]["text"] == f"m{EVENTS - 1}",
            within_s=60,
        )
        resumed = await bob.reconnect()
        topic = f"channel:{project_id}/general"
        assert resumed["data"][topic]["recovered"] is True
        assert resumed["data"][topic]["seq"] == EVENTS
        missed = chat(bob.frames[before:])
        assert [f["data"]["text"] for f in missed] == [f"m{i}" for i in range(EVENTS)]
        assert [f["seq"] for f in missed] == list(range(1, EVENTS + 1))
    finally:
        await alice.close()
        await bob.close()


async def test_resume_of_a_lost_history_says_not_recovered(stack: Stack) -> None:
    """A position from another epoch cannot be filled: `recovered: false` and the current seq."""
    alice, bob, project_id = await joined_pair(stack, "resume-epoch")
    try:
        topic = f"channel:{project_id}/general"
        bob.positions[topic] = {"seq": 0, "epoch": "not-this-one"}
        resumed = await bob.reconnect()
        assert resumed["data"][topic]["recovered"] is False
    finally:
        await alice.close()
        await bob.close()


async def test_resume_of_someone_elses_topic_is_refused(stack: Stack) -> None:
    alice, bob, _ = await joined_pair(stack, "resume-forbidden")
    try:
        bob.positions["user:u-somebody-else"] = {"seq": 0, "epoch": "x"}
        resumed = await bob.reconnect()
        assert resumed["data"]["user:u-somebody-else"] == {"recovered": False, "error": "forbidden"}
    finally:
        await alice.close()
        await bob.close()


async def test_typing_reaches_the_others_and_is_not_kept(stack: Stack) -> None:
    alice, bob, project_id = await joined_pair(stack, "typing")
    try:
        await alice.send("typing", {"project_id": project_id, "channel": "general"})
        typing = await bob.wait_for(lambda f: f["event"] == "typing")
        assert typing["data"]["user"]["username"] == "demo" and "seq" not in typing
        await asyncio.sleep(0.1)
    finally:
        await alice.close()
        await bob.close()


async def test_entities_snapshot_then_changes_and_a_race_has_one_winner(stack: Stack) -> None:
    """subscribe → entity_snapshot; two racing state_change frames → one confirmed, one not."""
    alice, bob, project_id = await joined_pair(stack, "entity-race")
    try:
        ref = await bob.send("subscribe", {"entity_type": "project", "entity_id": project_id})
        snapshot = await bob.wait_for(lambda f: f.get("ref") == ref)
        assert snapshot["event"] == "entity_snapshot", snapshot
        assert snapshot["data"]["state"]["mode"] == "blocking"
        change = {
            "entity_type": "project",
            "entity_id": project_id,
            "field": "mode",
            "old_value": "blocking",
        }
        refs = [
            await alice.send("state_change", {**change, "change_id": "a", "new_value": "partial"}),
            await bob.send("state_change", {**change, "change_id": "b", "new_value": "autonomous"}),
        ]
        answers = [
            await client.wait_for(
                lambda f, ref=ref: (
                    f.get("ref") == ref  # type: ignore[misc]
                    and f["event"].startswith("state_change_")
                )
            )
            for client, ref in zip((alice, bob), refs, strict=True)
        ]
        events = sorted(a["event"] for a in answers)
        assert events == ["state_change_confirmed", "state_change_rejected"], answers
        changed = await bob.wait_for(
            lambda f: (
                f["event"] == "state_changed"
                and f["data"]["field"] == "mode"
                and f["data"].get("old_value") == "blocking"
            )
        )
        winner = next(a for a in answers if a["event"] == "state_change_confirmed")
        assert changed["data"]["new_value"] == ("partial" if winner is answers[0] else "autonomous")
    finally:
        await alice.close()
        await bob.close()


async def test_presence_counts_a_user_once_and_follows_joins_and_leaves(stack: Stack) -> None:
    """Two tabs of one user count once; a second member appears, then leaves."""
    alice, alice_tab, project_id = await joined_pair(stack, "presence")
    carol = None
    try:

        def users(frame: Frame) -> list[str]:
            return [u["username"] for u in frame["data"]["users"]]

        first = await alice.wait_for(lambda f: f["event"] == "presence")
        assert users(first) == ["demo"]
        await add_member(stack.redis_url, stack.namespace, project_id, "carol")
        carol = await Client.connect(stack.ws_url, await login(stack.url("auth"), "carol", "carol"))
        ref = await carol.send("join_channel", {"project_id": project_id, "channel": "general"})
        await carol.wait_for(lambda f: f.get("ref") == ref)
        both = await alice.wait_for(
            lambda f: f["event"] == "presence" and len(f["data"]["users"]) == 2
        )
        assert sorted(users(both)) == ["carol", "demo"]
        # Counted before the close: the gateway may announce the leave before close() returns.
        count = len(alice.frames)
        await carol.close()
        carol = None
        alone = await alice.wait_for(lambda f: f["event"] == "presence", start=count)
        assert users(alone) == ["demo"]
    finally:
        await alice.close()
        await alice_tab.close()
        if carol is not None:
            await carol.close()


async def test_history_api_pages_newest_first_for_members_only(stack: Stack) -> None:
    alice, bob, project_id = await joined_pair(stack, "history-api")
    try:
        for i in range(5):
            await alice.send(
                "message", {"project_id": project_id, "channel": "general", "text": f"h{i}"}
            )
        await bob.wait_for(lambda f: f["event"] == "message" and f["data"]["text"] == "h4")
        url = stack.url("sync") + f"/api/messages/{project_id}/general"
        headers = {"Authorization": f"Bearer {bob.token}"}
        async with httpx.AsyncClient(headers=headers) as http:
            page = (await http.get(url, params={"limit": 2})).json()
            assert [m["data"]["text"] for m in page["items"]] == ["h4", "h3"]
            older = (await http.get(url, params={"limit": 2, "before": page["next_before"]})).json()
            assert [m["data"]["text"] for m in older["items"]] == ["h2", "h1"]
            most = await http.get(url, params={"limit": 200})  # HUDDLE_MAX_PAGE
            assert most.status_code == 200 and len(most.json()["items"]) == 5
            too_many = await http.get(url, params={"limit": 201})
            assert too_many.status_code == 422
            await add_member(stack.redis_url, stack.namespace, None, "erin")
            outsider = await login(stack.url("auth"), "erin", "erin")  # not in this project
            refused = await http.get(url, headers={"Authorization": f"Bearer {outsider}"})
            assert refused.status_code == 404
    finally:
        await alice.close()
        await bob.close()
