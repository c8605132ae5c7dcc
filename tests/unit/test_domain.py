"""The orchestrator's domain on the in-process store, with the bus around it."""

from __future__ import annotations

import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry

from services.common.adapters import memory_adapters
from services.common.bus import Delivery
from services.common.contracts import CommandEnvelope, UserInfo
from services.common.jsonutil import dumps
from services.common.settings import CommonSettings
from services.common.store import MemoryStore
from services.orchestrator.app import OrchestratorService
from services.orchestrator.domain import Domain
from services.orchestrator.settings import OrchestratorSettings

ALICE = UserInfo(id="u-alice", username="alice", roles=("member",))
MALLORY = UserInfo(id="u-mallory", username="mallory", roles=("member",))


def envelope(text: str, user: UserInfo = ALICE, project_id: str | None = None) -> CommandEnvelope:
    return CommandEnvelope(
        command_id=uuid.uuid4().hex,
        kind="command",
        user=user,
        session_id="s",
        text=text,
        project_id=project_id,
        channel="general" if project_id else None,
        issued_at=time.time(),
    )


async def run(store: MemoryStore, env: CommandEnvelope) -> list[dict[str, Any]]:
    outcome = await Domain(store).handle(env)
    await store.commit(outcome.writes, token=env.command_id)
    return [event.model_dump(mode="json") for event in outcome.events]


async def test_register_then_epic_moves_to_backlog_ready() -> None:
    store = MemoryStore()
    [registered] = await run(store, envelope("/project register My App!"))
    assert registered["data"]["result"]["project_id"] == "my-app"
    events = await run(store, envelope('/epic "Login"', project_id="my-app"))
    assert [e["event"] for e in events] == ["state_change", "command_result"]
    assert events[0]["data"]["new_state"] == "BACKLOG_READY"
    assert events[0]["topic"] == "project:my-app"
    assert events[1]["data"]["result"]["epic_id"] == "E1"
    second = await run(store, envelope('/epic "Signup"', project_id="my-app"))
    assert [e["event"] for e in second] == ["command_result"]  # no transition: already there
    assert second[0]["data"]["result"]["epic_id"] == "E2"


async def test_epic_needs_a_description() -> None:
    store = MemoryStore()
    await run(store, envelope("/project register p"))
    [result] = await run(store, envelope("/epic", project_id="p"))
    assert result["data"]["error"] == "Epic description is required"


async def test_registering_twice_is_refused() -> None:
    store = MemoryStore()
    await run(store, envelope("/project register p"))
    [result] = await run(store, envelope("/project register P"))
    assert result["data"]["error"] == "Project p already exists"


async def test_non_members_cannot_use_a_project() -> None:
    """Another user's project looks like a project that does not exist."""
    store = MemoryStore()
    await run(store, envelope("/project register secret"))
    [result] = await run(store, envelope("/state", MALLORY, "secret"))
    assert result["data"]["error"] == "Project secret not found"
    [listed] = await run(store, envelope("/project list", MALLORY))
    assert listed["data"]["result"]["projects"] == []


async def test_disallowed_command_reports_state_and_allowed_commands() -> None:
    store = MemoryStore()
    await run(store, envelope("/project register p"))
    [result] = await run(store, envelope("/sprint start", project_id="p"))
    data = result["data"]
    assert data["ok"] is False
    assert data["error"] == "Command /sprint start not allowed in state IDLE"
    assert data["current_state"] == "IDLE" and "/epic" in data["allowed_commands"]


async def test_a_redelivered_command_has_no_second_effect() -> None:
    """The orchestrator republishes the first outcome for a redelivered command."""
    adapters = memory_adapters(CommonSettings(namespace="unit"))
    published: list[tuple[str, str]] = []

    async def record(
        exchange: str, key: str, body: bytes, *, message_id: str, correlation_id: str | None = None
    ) -> None:
        published.append((key, message_id))

    adapters.bus.publish = record  # type: ignore[method-assign,assignment]
    service = OrchestratorService(OrchestratorSettings(namespace="unit"), CollectorRegistry())
    await service.start(adapters)
    env = envelope("/project register twice")
    delivery = Delivery(dumps(env), "cmd.command", env.command_id, env.command_id, False)
    await service.on_command(delivery)
    await service.on_command(Delivery(delivery.body, "cmd.command", env.command_id, None, True))
    assert published[0] == published[1]
    assert published[0][1] == f"{env.command_id}:0"
    project = await adapters.store.get("project", "twice")
    assert project is not None and project.version == 1
    await adapters.close()
