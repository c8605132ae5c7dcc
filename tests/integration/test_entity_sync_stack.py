"""UI-initiated changes through five processes: sync intake, orchestrator CAS, entity API.

The gateway's `state_change` wiring is not here: the test publishes what the gateway would
(`ChangeEnvelope` with routing key `change.request`) straight onto the commands exchange, and
reads the answers from the history streams the sync service appends them to.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx
import pytest
from redis.asyncio import Redis

from services.auth.users import Users
from services.common.contracts import ChangeEnvelope, UserInfo, entity_topic, user_topic
from services.common.history_redis import RedisHistory
from services.common.jsonutil import dumps, loads
from services.common.store_redis import RedisStore
from services.common.topology import CHANGE_REQUEST_KEY, COMMANDS, Topology
from tests.client import Client, login
from tests.services_env import Backends
from tests.stack import Stack, run_stack


@pytest.fixture(scope="module")
def stack(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"HUDDLE_SCRIPTED_PHASE_S": "0.05"}
    with run_stack(backends, tmp_path_factory.mktemp("entities"), env) as running_stack:
        yield running_stack


@dataclass
class World:
    """A project with a planned sprint (blocking mode), and ways to poke at the stack."""

    stack: Stack
    project_id: str
    demo: UserInfo
    demo_token: str
    mallory: UserInfo
    mallory_token: str
    history: RedisHistory
    exchange: aio_pika.abc.AbstractExchange

    async def send(self, user: UserInfo, *change: Any) -> ChangeEnvelope:
        """Publish a `state_change` as the gateway would; return its envelope."""
        entity_type, entity_id, field, old, new = change
        envelope = ChangeEnvelope.model_validate(
            {
                "request_id": uuid.uuid4().hex,
                "change": {
                    "change_id": uuid.uuid4().hex[:10],
                    "entity_type": entity_type,
                    "entity_id": entity_id,
                    "field": field,
                    "old_value": old,
                    "new_value": new,
                },
                "user": user,
                "session_id": f"session-{user.username}",
                "ref": "f1",
                "issued_at": time.time(),
            }
        )
        await self.exchange.publish(
            aio_pika.Message(dumps(envelope), message_id=envelope.request_id),
            CHANGE_REQUEST_KEY,
        )
        return envelope

    async def answer(self, envelope: ChangeEnvelope, within_s: float = 15) -> dict[str, Any]:
        """`state_change_confirmed` or `state_change_rejected` for the change (its frame)."""
        topic = user_topic(envelope.user.id)
        async with asyncio.timeout(within_s):
            while True:
                for _, body in await self.history.latest(topic, 200):
                    frame = loads(body)
                    if frame["data"].get("change_id") == envelope.change.change_id:
                        assert frame["data"]["session_id"] == envelope.session_id
                        return dict(frame)
                await asyncio.sleep(0.05)

    async def entity(self, entity_type: str, entity_id: str, token: str | None = None) -> Any:
        async with httpx.AsyncClient(base_url=self.stack.url("sync"), timeout=10) as http:
            return await http.get(
                f"/api/entities/{entity_type}/{entity_id}",
                headers={"Authorization": f"Bearer {token or self.demo_token}"},
            )

    async def current(self, entity_type: str, entity_id: str) -> dict[str, Any]:
        response = await self.entity(entity_type, entity_id)
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
async def world(stack: Stack, backends: Backends) -> AsyncIterator[World]:
    topology = Topology(stack.namespace)
    redis = Redis.from_url(backends.redis_url)
    name = f"ui-{uuid.uuid4().hex[:6]}"
    mallory_name = f"mallory-{uuid.uuid4().hex[:6]}"
    await Users(RedisStore(redis, topology), refresh_ttl_s=600).create(
        mallory_name, "mallory-password", ["member"]
    )
    token = await login(stack.url("auth"))
    mallory_token = await login(stack.url("auth"), mallory_name, "mallory-password")
    async with httpx.AsyncClient(base_url=stack.url("auth")) as http:
        demo = UserInfo.model_validate(
            (await http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})).json()
        )
        mallory = UserInfo.model_validate(
            (
                await http.get("/auth/me", headers={"Authorization": f"Bearer {mallory_token}"})
            ).json()
        )
    client = await Client.connect(stack.ws_url, token)
    connection = await aio_pika.connect(backends.amqp_url)
    try:
        project_id = (await client.command(f"/project register {name}"))["data"]["result"][
            "project_id"
        ]
        ref = await client.send("join_channel", {"project_id": project_id, "channel": "general"})
        await client.wait_for(lambda f: f.get("ref") == ref)
        assert (await client.command('/epic "User authentication"', project_id))["data"]["ok"]
        await client.wait_for(
            lambda f: f["event"] == "agent_response" and "Proposed" in f["data"]["message"],
            within_s=30,
        )
        assert (await client.command("/approve", project_id))["data"]["ok"]
        planned = await client.command("/sprint plan", project_id)
        assert planned["data"]["current_state"] == "SPRINT_PLANNED", planned
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.exchange(COMMANDS), ensure=True)
        yield World(
            stack,
            project_id,
            demo,
            token,
            mallory,
            mallory_token,
            RedisHistory(redis, topology),
            exchange,
        )
    finally:
        await connection.close()
        await client.close()
        await redis.aclose()


async def test_a_confirmed_sprint_start_and_the_entities_api(world: World) -> None:
    """planned → active from the UI starts the sprint; the API and the entity topic show it."""
    p = world.project_id
    sprint_id = f"{p}:SP1"
    before = await world.current("sprint", sprint_id)
    assert before["state"]["status"] == "planned"
    assert before["entity_type"] == "sprint" and before["entity_id"] == sprint_id
    change = await world.send(world.demo, "sprint", sprint_id, "status", "planned", "active")
    answer = await world.answer(change)
    assert answer["event"] == "state_change_confirmed", answer
    assert answer["data"]["version"] == before["version"] + 1
    assert answer["data"]["ref"] == "f1"
    project = await world.current("project", p)
    assert project["state"]["state"] == "SPRINT_ACTIVE"
    after = await world.current("sprint", sprint_id)
    assert after["state"]["status"] == "active" and after["version"] >= answer["data"]["version"]
    changes = [
        loads(body)["data"]
        for _, body in await world.history.latest(entity_topic("sprint", sprint_id), 50)
    ]
    status = [c for c in changes if c["field"] == "status"]
    assert status[-1]["old_value"] == "planned" and status[-1]["new_value"] == "active"
    assert status[-1]["source"] == f"ui:{change.session_id}"
    assert status[-1]["version"] == answer["data"]["version"]
    # The entities API: members only, 404 for anything else.
    assert (await world.entity("project", p, world.mallory_token)).status_code == 404
    assert (await world.entity("story", f"{p}:S99")).status_code == 404
    assert (await world.entity("epic", f"{p}:E1")).status_code == 404
    agent = await world.current("agent", f"{p}:DesignAgent")
    assert agent["state"]["status"] == "waiting"  # blocking mode: the first task waits
    async with httpx.AsyncClient(base_url=world.stack.url("sync")) as http:
        assert (await http.get(f"/api/entities/project/{p}")).status_code == 401


async def test_stale_disallowed_and_foreign_changes_are_rejected(world: World) -> None:
    p = world.project_id
    story = await world.current("story", f"{p}:S1")
    priority = story["state"]["priority"]
    wrong = 5 if priority != 5 else 4
    stale = await world.send(world.demo, "story", f"{p}:S1", "priority", wrong, 1)
    answer = await world.answer(stale)
    assert answer["event"] == "state_change_rejected"
    assert f"is {priority} now, not {wrong}" in answer["data"]["reason"]
    disallowed = await world.send(
        world.demo, "sprint", f"{p}:SP1", "status", "planned", "completed"
    )
    answer = await world.answer(disallowed)
    assert answer["event"] == "state_change_rejected"
    assert "cannot change from 'planned' to 'completed'" in answer["data"]["reason"]
    foreign = await world.send(world.mallory, "project", p, "mode", "blocking", "autonomous")
    answer = await world.answer(foreign)
    assert answer["event"] == "state_change_rejected"
    assert answer["data"]["reason"] == f"project {p} not found"
    # Nothing changed.
    assert (await world.current("story", f"{p}:S1"))["version"] == story["version"]
    assert (await world.current("project", p))["state"]["mode"] == "blocking"


async def test_two_clients_racing_the_same_change_one_wins(world: World) -> None:
    p = world.project_id
    for round_ in range(3):
        story = await world.current("story", f"{p}:S2")
        priority = story["state"]["priority"]
        target = 1 if priority != 1 else 2
        racers = await asyncio.gather(
            *(
                world.send(world.demo, "story", f"{p}:S2", "priority", priority, target)
                for _ in range(2)
            )
        )
        answers = [await world.answer(r) for r in racers]
        events = sorted(a["event"] for a in answers)
        assert events == ["state_change_confirmed", "state_change_rejected"], (round_, answers)
        after = await world.current("story", f"{p}:S2")
        assert after["state"]["priority"] == target
        assert after["version"] == story["version"] + 1
