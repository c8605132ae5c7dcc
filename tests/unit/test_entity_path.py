"""Entities in one process: the gateway's entity frames, the sync intake, the orchestrator."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from services.auth.keys import Keyring
from services.common.adapters import Adapters, memory_adapters
from services.common.bus import BusUnavailable, Delivery
from services.common.contracts import (
    ChangeEnvelope,
    CommandEnvelope,
    CommandResultEvent,
    StateChangeFrame,
    SubscribeFrame,
    UnsubscribeFrame,
    UserInfo,
    user_topic,
)
from services.common.jsonutil import dumps, loads, server_frame, with_position
from services.common.store import Write
from services.common.tokens import Claims
from services.common.topology import CHANGE_REQUEST_KEY, COMMANDS, SYNC_CHANGES_QUEUE
from services.gateway.entities import EntityFrames, change_answer
from services.orchestrator.agents.scripted import ScriptedProvider
from services.orchestrator.app import OrchestratorService
from services.orchestrator.settings import OrchestratorSettings
from services.sync.app import SyncService
from services.sync.settings import SyncSettings

ALICE = UserInfo(id="u-alice", username="alice", roles=("member",))
MALLORY = UserInfo(id="u-mallory", username="mallory", roles=("member",))


@dataclass
class Socket:
    """Stands in for a gateway connection: records what it is sent and what it follows."""

    user: UserInfo
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    frames: list[dict[str, Any]] = field(default_factory=list)
    topics: set[str] = field(default_factory=set)

    @property
    def claims(self) -> Claims:
        return Claims(self.user, self.session_id, time.time() + 600)

    def reply(self, event: str, data: Any, ref: str | None) -> None:
        self.frames.append(loads(server_frame(event, data, ref)))

    def error(
        self, code: str, message: str, ref: str | None, extra: dict[str, Any] | None = None
    ) -> None:
        self.reply("error", {"code": code, "message": message, **(extra or {})}, ref)

    def publishing(self, message_id: str) -> Callable[[], None]:
        return lambda: None


async def add_topic(socket: Socket, topic: str) -> None:
    socket.topics.add(topic)


async def remove_topic(socket: Socket, topic: str) -> None:
    socket.topics.discard(topic)


@dataclass
class Path:
    adapters: Adapters
    orchestrator: OrchestratorService
    frames: EntityFrames

    async def command(self, text: str, project_id: str | None = None) -> None:
        envelope = CommandEnvelope(
            command_id=uuid.uuid4().hex,
            kind="command",
            user=ALICE,
            session_id="s",
            text=text,
            project_id=project_id,
            issued_at=time.time(),
        )
        outcome = await self.orchestrator.handle_command(envelope)
        result = next(e for e in outcome.events if isinstance(e, CommandResultEvent))
        assert result.data.ok, result

    async def request(self, envelope: ChangeEnvelope) -> None:
        """Publish a change request as the gateway does (straight to the sync intake)."""
        exchange = self.adapters.topology.exchange(COMMANDS)
        await self.adapters.bus.publish(
            exchange, CHANGE_REQUEST_KEY, dumps(envelope), message_id=envelope.request_id
        )

    async def answer(self, user: UserInfo, change_id: str) -> dict[str, Any]:
        """The answer to a change, as the sync service appended it to the user's topic."""
        topic = user_topic(user.id)
        async with asyncio.timeout(5):
            while True:
                for seq, body in await self.adapters.history.latest(topic, 100):
                    frame = loads(body)
                    if frame["data"].get("change_id") == change_id:
                        position = await self.adapters.history.position(topic)
                        return {"bytes": with_position(body, topic, seq, position.epoch), **frame}
                await asyncio.sleep(0.005)


@pytest.fixture
async def path() -> AsyncIterator[Path]:
    namespace = f"unit-{uuid.uuid4().hex[:6]}"
    adapters = memory_adapters(OrchestratorSettings(namespace=namespace))
    keys = Keyring.generate()
    orchestrator = OrchestratorService(
        OrchestratorSettings(namespace=namespace),
        CollectorRegistry(),
        keys=keys,
        provider=ScriptedProvider(phase_s=0.0, failure_rate=0.0, ticks=1),
    )
    sync = SyncService(SyncSettings(namespace=namespace), CollectorRegistry(), keys=keys)
    await orchestrator.start(adapters)
    await sync.start(adapters)
    yield Path(adapters, orchestrator, EntityFrames(adapters, add_topic, remove_topic))
    await orchestrator.stop()
    await adapters.close()


def change_envelope(request_id: str, frame: StateChangeFrame, user: UserInfo) -> ChangeEnvelope:
    """The envelope the gateway would publish for `frame`."""
    return ChangeEnvelope.model_validate(
        {
            "request_id": request_id,
            "change": frame.data,
            "user": user,
            "session_id": f"s-{request_id}",
            "issued_at": time.time(),
        }
    )


def state_change(change_id: str, entity_type: str, entity_id: str, field: str, old: Any, new: Any):
    return StateChangeFrame.model_validate(
        {
            "event": "state_change",
            "id": f"frame-{change_id}",
            "data": {
                "change_id": change_id,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "field": field,
                "old_value": old,
                "new_value": new,
            },
        }
    )


def subscribe(entity_type: str, entity_id: str, kind: Any = SubscribeFrame) -> Any:
    return kind.model_validate(
        {
            "event": "subscribe" if kind is SubscribeFrame else "unsubscribe",
            "id": "sub",
            "data": {"entity_type": entity_type, "entity_id": entity_id},
        }
    )


async def test_subscribe_answers_the_snapshot_and_follows_the_topic(path: Path) -> None:
    await path.command("/project register Entity Path")
    alice = Socket(ALICE)
    await path.frames.subscribe(alice, subscribe("project", "entity-path"))
    [snapshot] = alice.frames
    assert snapshot["event"] == "entity_snapshot" and snapshot["ref"] == "sub"
    data = snapshot["data"]
    assert (data["entity_type"], data["entity_id"], data["version"]) == (
        "project",
        "entity-path",
        1,
    )
    assert data["state"]["name"] == "Entity Path" and data["state"]["mode"] == "blocking"
    assert data["topic"] == "entity:project:entity-path" and data["position"]["seq"] >= 0
    assert alice.topics == {"entity:project:entity-path"}

    await path.frames.subscribe(alice, subscribe("story", "entity-path:S7"))
    assert alice.frames[-1]["event"] == "error"
    assert alice.frames[-1]["data"]["code"] == "not_found"
    assert alice.topics == {"entity:project:entity-path"}  # not left following a missing one

    mallory = Socket(MALLORY)
    await path.frames.subscribe(mallory, subscribe("project", "entity-path"))
    assert mallory.frames[-1]["data"]["code"] == "forbidden" and not mallory.topics

    await path.frames.unsubscribe(alice, subscribe("project", "entity-path", UnsubscribeFrame))
    assert alice.frames[-1] == {
        "event": "unsubscribed",
        "data": {"entity_type": "project", "entity_id": "entity-path"},
        "ref": "sub",
    }
    assert not alice.topics


async def test_a_change_goes_through_the_intake_to_the_orchestrator(path: Path) -> None:
    await path.command("/project register Intake")
    alice, other_tab = Socket(ALICE), Socket(ALICE)
    await path.frames.state_change(
        alice, state_change("c1", "project", "intake", "mode", "blocking", "partial")
    )
    assert alice.frames == []  # the answer comes on the user topic
    confirmed = await path.answer(ALICE, "c1")
    assert confirmed["event"] == "state_change_confirmed"
    assert confirmed["data"]["version"] == 2 and confirmed["data"]["session_id"] == alice.session_id
    stored = await path.adapters.store.get("project", "intake")
    assert stored is not None and stored.state["mode"] == "partial" and stored.version == 2
    # Only the sending socket gets it, with the ref of its frame.
    assert change_answer(confirmed["bytes"], other_tab.session_id) is None
    mine = change_answer(confirmed["bytes"], alice.session_id)
    assert mine is not None and orjson.loads(mine)["ref"] == "frame-c1"
    changed = await path.adapters.history.latest("entity:project:intake", 10)
    last = loads(changed[-1][1])
    assert last["event"] == "state_changed"
    assert last["data"] == {
        "entity_type": "project",
        "entity_id": "intake",
        "field": "mode",
        "old_value": "blocking",
        "new_value": "partial",
        "version": 2,
        "source": f"ui:{alice.session_id}",
    }


@pytest.mark.parametrize(
    ("user", "change", "reason"),
    [
        (ALICE, ("project", "checked", "mode", "partial", "autonomous"), "stale"),
        (ALICE, ("project", "checked", "state", "IDLE", "SPRINT_ACTIVE"), "cannot be changed"),
        (ALICE, ("agent", "checked:CodeAgent", "status", "idle", "error"), "cannot change"),
        (ALICE, ("story", "checked:S1", "priority", 3, 1), "not found"),
    ],
)
async def test_the_intake_rejects_what_cannot_be(
    path: Path, user: UserInfo, change: tuple[Any, ...], reason: str
) -> None:
    await path.command("/project register Checked")
    socket = Socket(user)
    await path.frames.state_change(socket, state_change("c2", *change))
    rejected = await path.answer(user, "c2")
    assert rejected["event"] == "state_change_rejected", rejected
    assert reason in rejected["data"]["reason"]
    stored = await path.adapters.store.get("project", "checked")
    assert stored is not None and stored.version == 1  # nothing applied


async def test_a_non_member_is_refused_by_the_gateway_and_by_the_intake(path: Path) -> None:
    """The gateway answers `forbidden`; a change that reaches the intake anyway is not found."""
    await path.command("/project register Guarded")
    socket = Socket(MALLORY)
    await path.frames.state_change(
        socket, state_change("c3", "project", "guarded", "mode", "blocking", "partial")
    )
    assert [(f["event"], f["data"]["code"], f["ref"]) for f in socket.frames] == [
        ("error", "forbidden", "frame-c3")
    ]
    change = state_change("c4", "project", "guarded", "mode", "blocking", "partial")
    await path.request(change_envelope("r-guarded", change, MALLORY))
    rejected = await path.answer(MALLORY, "c4")
    assert (
        rejected["event"] == "state_change_rejected" and "not found" in rejected["data"]["reason"]
    )
    stored = await path.adapters.store.get("project", "guarded")
    assert stored is not None and stored.version == 1


async def test_a_redelivered_request_is_answered_once(path: Path) -> None:
    """The intake sees a change again after the orchestrator applied it: no late `stale`."""
    await path.command("/project register Twice")
    envelope = change_envelope(
        "r-twice", state_change("c5", "project", "twice", "name", "Twice", "Thrice"), ALICE
    )
    await path.request(envelope)
    assert (await path.answer(ALICE, "c5"))["event"] == "state_change_confirmed"
    await path.request(envelope)
    await asyncio.sleep(0.1)
    answers = [
        loads(body)["event"]
        for _, body in await path.adapters.history.latest(user_topic(ALICE.id), 100)
        if loads(body)["data"].get("change_id") == "c5"
    ]
    assert answers == ["state_change_confirmed"]
    stored = await path.adapters.store.get("project", "twice")
    assert stored is not None and stored.version == 2


async def test_a_broker_that_does_not_take_the_change_is_reported(path: Path) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise BusUnavailable("no confirm")

    await path.command("/project register Refused")
    path.adapters.bus.publish = refuse  # type: ignore[method-assign]
    alice = Socket(ALICE)
    await path.frames.state_change(
        alice, state_change("c3", "project", "refused", "name", "Refused", "b")
    )
    assert alice.frames == [
        {
            "event": "error",
            "data": {
                "code": "unavailable",
                "message": "the change was not accepted: broker unavailable",
            },
            "ref": "frame-c3",
        }
    ]


async def test_change_requests_reach_only_the_sync_intake() -> None:
    """`change.request` lands in `sync.changes`; the orchestrator's `cmd.#` does not catch it."""
    adapters = memory_adapters(OrchestratorSettings(namespace=f"unit-{uuid.uuid4().hex[:6]}"))
    seen: list[Delivery] = []

    async def collect(delivery: Delivery) -> None:
        seen.append(delivery)

    orchestrator_got: list[Delivery] = []

    async def orchestrator(delivery: Delivery) -> None:
        orchestrator_got.append(delivery)

    await adapters.bus.consume(SYNC_CHANGES_QUEUE, collect)
    await adapters.bus.consume("orchestrator.commands", orchestrator)
    frames = EntityFrames(adapters, add_topic, remove_topic)
    # The gateway forwards changes of the user's own projects only.
    await adapters.store.commit([Write("project", "x", {"id": "x", "members": [ALICE.id]}, 0)])
    await frames.state_change(Socket(ALICE), state_change("c4", "project", "x", "name", "a", "b"))
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.005)
    assert [d.routing_key for d in seen] == ["change.request"] and not orchestrator_got
    assert loads(seen[0].body)["change"]["change_id"] == "c4"
    await adapters.close()


def test_change_answer_passes_every_other_frame() -> None:
    frame = with_position(server_frame("command_result", {"command_id": "x"}), "user:u", 3, "e")
    assert change_answer(frame, "anyone") is frame
