"""Membership gates every socket event and HTTP route; admin-only commands stay admin-only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from services.auth.settings import AuthSettings
from tests.security.huddle import Huddle, running


@dataclass
class World:
    huddle: Huddle
    alice_token: str
    bob_id: str
    project_b: str


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """Alice is a member of project A only; Bob owns project B, which has history."""
    with running() as huddle:
        huddle.create_user("alice")
        bob_id = huddle.create_user("bob")
        with huddle.socket(huddle.token("alice")) as alice:
            assert alice.command("/project register Alpha")["data"]["ok"]
        with huddle.socket(huddle.token("bob")) as bob:
            registered = bob.command("/project register Bravo")
            project_b = registered["data"]["result"]["project_id"]
            bob.answer("join_channel", {"project_id": project_b, "channel": "general"})
            bob.send("message", {"project_id": project_b, "channel": "general", "text": "secret"})
            bob.wait_for(lambda f: f["event"] == "message")
        yield World(huddle, huddle.token("alice"), bob_id, project_b)


def forbidden(frame: dict[str, object]) -> bool:
    data = frame.get("data")
    return frame["event"] == "error" and isinstance(data, dict) and data["code"] == "forbidden"


def test_a_member_of_a_cannot_touch_project_b_over_the_socket(world: World) -> None:
    """join, command, message, agent_message, typing, subscribe, state_change: `forbidden`."""
    b = world.project_b
    channel = {"project_id": b, "channel": "general"}
    attempts = [
        ("join_channel", channel),
        ("command", {"command": "/state", "project_id": b, "channel": "general"}),
        ("command", {"command": "/sprint start", "project_id": b}),
        ("message", {**channel, "text": "hi"}),
        ("agent_message", {**channel, "agent_id": "CodeAgent", "message": "leak it"}),
        ("typing", channel),
        ("subscribe", {"entity_type": "project", "entity_id": b}),
        (
            "state_change",
            {
                "change_id": "x",
                "entity_type": "project",
                "entity_id": b,
                "field": "mode",
                "old_value": "blocking",
                "new_value": "autonomous",
            },
        ),
    ]
    with world.huddle.socket(world.alice_token) as alice:
        for event, data in attempts:
            answer = alice.answer(event, data)
            assert forbidden(answer), (event, answer)
        # resume: the topic is refused, and nothing of it is replayed
        topics = [f"channel:{b}/general", f"project:{b}", f"entity:project:{b}", "user:u-bob"]
        resumed = alice.answer(
            "resume", {"positions": {t: {"seq": 0, "epoch": "x"} for t in topics}}
        )
        assert resumed["event"] == "resumed"
        assert all(resumed["data"][t] == {"recovered": False, "error": "forbidden"} for t in topics)
        assert alice.answer("ping")["event"] == "pong"
        leaked = [f for f in alice.frames if "secret" in str(f) or f.get("topic", "").endswith(b)]
        assert leaked == []


def test_a_member_of_a_cannot_read_project_b_over_http(world: World) -> None:
    """Every route answers as if project B did not exist."""
    huddle, b = world.huddle, world.project_b
    headers = huddle.bearer(world.alice_token)
    for route in (
        f"/api/projects/{b}/state",
        f"/api/projects/{b}/backlog",
        f"/api/projects/{b}/sprints",
        f"/api/messages/{b}/general",
        f"/api/entities/project/{b}",
    ):
        response = huddle.http.get(route, headers=headers)
        assert response.status_code == 404, (route, response.text)
        assert "secret" not in response.text
    listed = huddle.http.get("/api/projects", headers=headers).json()
    assert [p["id"] for p in listed] == ["alpha"]
    agents = huddle.http.get("/api/agents", headers=headers).json()
    assert [p["project_id"] for p in agents["projects"]] == ["alpha"]


@pytest.mark.parametrize("command", ["/logs", "/status"])
def test_a_member_cannot_run_admin_commands(world: World, command: str) -> None:
    """`/logs` and `/status` answer "for admins only" to a member, and work for an admin."""
    with world.huddle.socket(world.alice_token) as alice:
        result = alice.command(command, "alpha")
        assert result["data"]["ok"] is False and "admins only" in result["data"]["error"]
    with world.huddle.socket(world.huddle.token()) as admin:
        assert admin.command(command, "alpha")["data"]["ok"] is True
        # About the process, not a project: no project needed.
        assert admin.command(command)["data"]["ok"] is True


def test_the_admin_api_is_for_admins(world: World) -> None:
    """A member gets 403, no token 401, for every admin route."""
    huddle = world.huddle
    routes = [
        ("GET", "/auth/users", None),
        ("POST", "/auth/users", {"username": "x", "password": "x" * 20}),
        ("PUT", f"/auth/users/{world.bob_id}/roles", {"roles": ["admin"]}),
        ("GET", f"/auth/projects/{world.project_b}/members", None),
        ("PUT", f"/auth/projects/{world.project_b}/members/u-alice", None),
        ("DELETE", f"/auth/projects/{world.project_b}/members/{world.bob_id}", None),
    ]
    for method, route, body in routes:
        member = huddle.http.request(
            method, route, json=body, headers=huddle.bearer(world.alice_token)
        )
        assert member.status_code == 403, (route, member.text)
        assert huddle.http.request(method, route, json=body).status_code == 401


def test_membership_granted_and_taken_away_takes_effect_at_once(world: World) -> None:
    """Added: Alice may join B. Removed: her socket loses B's topics and is refused again."""
    huddle, b = world.huddle, world.project_b
    admin = huddle.bearer(huddle.token())
    alice_id = huddle.http.get("/auth/me", headers=huddle.bearer(world.alice_token)).json()["id"]
    with huddle.socket(world.alice_token) as alice:
        assert forbidden(alice.answer("join_channel", {"project_id": b, "channel": "general"}))
        added = huddle.http.put(f"/auth/projects/{b}/members/{alice_id}", headers=admin)
        assert added.status_code == 200 and alice_id in added.json()["members"]
        told = alice.wait_for(lambda f: f["event"] == "membership_changed")
        assert told["data"] == {"project_id": b, "member": True}
        joined = alice.answer("join_channel", {"project_id": b, "channel": "general"})
        assert joined["event"] == "joined_channel"
        removed = huddle.http.delete(f"/auth/projects/{b}/members/{alice_id}", headers=admin)
        assert removed.status_code == 200 and alice_id not in removed.json()["members"]
        notice = alice.wait_for(lambda f: f["event"] == "error")
        assert forbidden(notice) and "no longer a member" in str(notice)
        told = alice.wait_for(lambda f: f["event"] == "membership_changed")
        assert told["data"] == {"project_id": b, "member": False}
        message = {"project_id": b, "channel": "general", "text": "still here?"}
        assert forbidden(alice.answer("message", message))
        assert forbidden(alice.answer("command", {"command": "/state", "project_id": b}))
    missing = huddle.http.put(f"/auth/projects/nope/members/{alice_id}", headers=admin)
    assert missing.status_code == 404
    unknown = huddle.http.put(f"/auth/projects/{b}/members/u-nobody", headers=admin)
    assert unknown.status_code == 404


def test_an_admin_is_told_of_being_added_but_not_of_a_removal_that_changes_nothing(
    world: World,
) -> None:
    """An admin may use every project: removed from one's members, nothing changes for them."""
    huddle, b = world.huddle, world.project_b
    admin_token = huddle.token()
    admin = huddle.bearer(admin_token)
    admin_id = huddle.http.get("/auth/me", headers=admin).json()["id"]
    with huddle.socket(admin_token) as socket:
        assert huddle.http.put(f"/auth/projects/{b}/members/{admin_id}", headers=admin).is_success
        told = socket.wait_for(lambda f: f["event"] == "membership_changed")
        assert told["data"] == {"project_id": b, "member": True}
        removed = huddle.http.delete(f"/auth/projects/{b}/members/{admin_id}", headers=admin)
        assert removed.is_success
        socket.answer("ping")
        joined = socket.answer("join_channel", {"project_id": b, "channel": "general"})
        assert joined["event"] == "joined_channel"
        assert [f for f in socket.frames if f["event"] == "membership_changed"] == [told]


def test_admin_api_creates_and_lists_users(world: World) -> None:
    """Create (weak passwords and taken names refused), list, set roles."""
    huddle = world.huddle
    admin = huddle.bearer(huddle.token())
    shortest = AuthSettings().min_password_chars
    weak = huddle.http.post(
        "/auth/users",
        json={"username": "weak", "password": "x" * (shortest - 1)},
        headers=admin,
    )
    assert weak.status_code == 422
    just_enough = huddle.http.post(
        "/auth/users", json={"username": "enough", "password": "x" * shortest}, headers=admin
    )
    assert just_enough.status_code == 201
    taken = huddle.http.post(
        "/auth/users", json={"username": "bob", "password": "x" * 20}, headers=admin
    )
    assert taken.status_code == 409
    names = {u["username"] for u in huddle.http.get("/auth/users", headers=admin).json()}
    assert {"demo", "alice", "bob"} <= names
    assert all("password" not in u for u in huddle.http.get("/auth/users", headers=admin).json())
    me = huddle.http.get("/auth/me", headers=admin).json()
    own = huddle.http.put(
        f"/auth/users/{me['id']}/roles", json={"roles": ["member"]}, headers=admin
    )
    assert own.status_code == 409  # an admin cannot lock themselves out


def test_sockets_of_other_users_never_receive_a_users_topic(world: World) -> None:
    """`resume` of another user's topic is refused."""
    with world.huddle.socket(world.alice_token) as alice:
        topic = f"user:{world.bob_id}"
        resumed = alice.answer("resume", {"positions": {topic: {"seq": 0, "epoch": "x"}}})
        assert resumed["data"][topic]["error"] == "forbidden"
