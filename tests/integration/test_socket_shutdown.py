"""A gateway shutting down answers the frames it had read before it closes the socket 1001.

uvicorn's own shutdown closed every socket at once: a command already read was still
published (it ran), but its `command_received` never left, so the client marked it lost and
a person sent it again. Frames that came after shutdown began were dropped unread: a chat
message vanished without a word.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from services.common.access import PROJECT
from services.common.adapters import Adapters
from services.common.contracts import UserInfo
from services.common.shutdown import GoingAwayProtocol, going_away_protocol
from services.common.store import Entity, Write
from services.orchestrator.model import new_project
from tests.integration.test_socket_keepalive import (
    GatedPublish,
    authenticated,
    gated_adapters,
    served_gateway,
)
from tests.unit.test_gateway_sockets import MODE_CHANGE


async def command_being_published(ws: ClientConnection, gated: GatedPublish) -> None:
    """Authenticate and send command `c1`; return once its publish is held at the gate."""
    await authenticated(ws)
    command = {"event": "command", "id": "c1", "data": {"command": "/help"}}
    await ws.send(json.dumps(command))
    assert await asyncio.to_thread(gated.waiting.wait, 5)


async def shut_down(server: uvicorn.Server) -> None:
    """SIGTERM, as uvicorn handles it; return once the open sockets know the server leaves."""
    server.should_exit = True
    deadline = time.monotonic() + 5
    while not all(  # each is leaving, or already closed
        isinstance(c, GoingAwayProtocol) and c._leaving is not None
        for c in list(server.server_state.connections)
    ):
        assert time.monotonic() < deadline, "uvicorn did not shut the sockets down"
        await asyncio.sleep(0.02)


def frames_read(url: str) -> int:
    """How many client frames the gateway has read (its `huddle_gateway_frames_in_total`)."""
    metrics_url = url.replace("ws://", "http://").removesuffix("/ws") + "/metrics"
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        lines = response.read().decode().splitlines()
    family = "huddle_gateway_frames_in_total{"
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in lines if line.startswith(family))


async def until_read(url: str, count: int) -> None:
    """Wait until the gateway has read `count` client frames (in its inbox, or handled)."""
    deadline = time.monotonic() + 5
    while (read := await asyncio.to_thread(frames_read, url)) < count:
        assert time.monotonic() < deadline, f"the gateway read {read} frames, not {count}"
        await asyncio.sleep(0.02)


async def frames(ws: ClientConnection) -> AsyncIterator[dict[str, Any]]:
    async for frame in ws:
        yield json.loads(frame)


async def test_a_command_read_before_shutdown_is_answered_then_the_socket_closes_1001() -> None:
    adapters, gated = gated_adapters()
    with served_gateway(adapters, going_away_protocol(5.0)) as (url, server):
        async with websockets.connect(url, ping_interval=None, compression=None) as ws:
            await command_being_published(ws, gated)
            await shut_down(server)
            late = {"event": "command", "id": "late", "data": {"command": "/help"}}
            await ws.send(json.dumps(late))  # not handled: refused at once, unread
            refused = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (refused["event"], refused["ref"]) == ("error", "late")
            assert refused["data"]["code"] == "unavailable"
            assert "shutting down" in refused["data"]["message"]
            gated.release.set()

            answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (answer["event"], answer["ref"]) == ("command_received", "c1")
            assert [frame async for frame in frames(ws)] == []
            assert ws.close_code == 1001
            assert ws.close_reason == "server shutting down"
        assert gated.calls == 1  # the late command was never published


async def test_frames_unhandled_at_the_drain_deadline_are_told_what_became_of_them() -> None:
    """A broker that does not confirm: at the deadline the command being published may
    still run (its id comes along, to match a result after a reconnect), the frames queued
    behind it that a client waits on were not handled; then 1001."""
    adapters, gated = gated_adapters()  # never released: a broker that hangs
    with served_gateway(adapters, going_away_protocol(0.5)) as (url, server):
        async with websockets.connect(url, ping_interval=None, compression=None) as ws:
            await command_being_published(ws, gated)
            read = await asyncio.to_thread(frames_read, url)
            queued = [
                {"event": "command", "id": "c2", "data": {"command": "/state"}},
                {"event": "join_channel", "id": "j1", "data": {"project_id": "p", "channel": "g"}},
                {"event": "ping", "id": "p1"},  # nobody waits on it: no answer
            ]
            for frame in queued:
                await ws.send(json.dumps(frame))
            await until_read(url, read + len(queued))  # read, and waiting behind c1

            started = time.monotonic()
            await shut_down(server)
            answers = {frame["ref"]: frame async for frame in frames(ws)}
            assert time.monotonic() - started < 3
            assert ws.close_code == 1001
        gated.release.set()  # let the served thread finish
    assert sorted(answers) == ["c1", "c2", "j1"]
    for ref in ("c2", "j1"):
        assert answers[ref]["data"]["code"] == "unavailable"
        assert "may_still_run" not in answers[ref]["data"]
    in_doubt = answers["c1"]["data"]
    assert (in_doubt["code"], in_doubt["may_still_run"]) == ("unavailable", True)
    assert len(in_doubt["command_id"]) == 32


CHANNEL = {"project_id": "p", "channel": "general"}
# A frame of each kind the gateway publishes, with what it needs.
PUBLISHED_FRAMES: list[tuple[str, dict[str, Any]]] = [
    ("command", {"command": "/help"}),
    ("message", {**CHANNEL, "text": "hello"}),
    ("agent_message", {**CHANNEL, "agent_id": "CodeAgent", "message": "hi"}),
    ("state_change", MODE_CHANGE),
]
# Those checked against the project before they are published (this command names none).
PROJECT_FRAMES = [(event, data) for event, data in PUBLISHED_FRAMES if event != "command"]


def each_kind(frames: list[tuple[str, dict[str, Any]]]) -> pytest.MarkDecorator:
    """Parametrize a test over frame kinds, named by their event."""
    return pytest.mark.parametrize(("event", "data"), frames, ids=[e for e, _ in frames])


async def answers_at_the_deadline(
    adapters: Adapters,
    event: str,
    data: dict[str, Any],
    started: threading.Event,
    release: threading.Event,
) -> list[dict[str, Any]]:
    """Send one frame; once `started` (its handling is under way) shut down with a 0.5 s
    deadline; return the frames answering it. `release` lets what holds it go on after."""
    owner = UserInfo(id="u1", username="u1")
    await adapters.store.commit([Write(PROJECT, "p", new_project("p", "P", owner), 0)])
    with served_gateway(adapters, going_away_protocol(0.5)) as (url, server):
        try:
            async with websockets.connect(url, ping_interval=None, compression=None) as ws:
                await authenticated(ws)
                await ws.send(json.dumps({"event": event, "id": "f1", "data": data}))
                assert await asyncio.to_thread(started.wait, 5)
                await shut_down(server)
                return [frame async for frame in frames(ws) if frame.get("ref") == "f1"]
        finally:
            release.set()  # let the served thread finish, whatever happened


def not_accepted(event: str) -> dict[str, Any]:
    message = f"the {event} was not accepted: this server is shutting down; send it again"
    return {"code": "unavailable", "message": message}


@each_kind(PUBLISHED_FRAMES)
async def test_frames_the_broker_was_never_handed_at_the_deadline_are_not_accepted(
    event: str, data: dict[str, Any]
) -> None:
    """A broker that blocks publishers (a memory alarm): what waits to be handed to it
    cannot run, so the client is told to send it again, not that it may still run."""
    adapters, gated = gated_adapters(handed_over=False)
    answers = await answers_at_the_deadline(adapters, event, data, gated.waiting, gated.release)
    assert [answer["data"] for answer in answers] == [not_accepted(event)]


class HangingProjectRead:
    """Wraps a store's `get`: the first read of project `p` waits until `release` is set."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.reading, self.release = threading.Event(), threading.Event()

    async def __call__(self, kind: str, key: str) -> Entity | None:
        if key == "p" and not self.reading.is_set():
            self.reading.set()
            await asyncio.to_thread(self.release.wait, 30)
        entity: Entity | None = await self.real(kind, key)
        return entity


@each_kind(PROJECT_FRAMES)
async def test_frames_still_being_checked_at_the_deadline_are_not_accepted(
    event: str, data: dict[str, Any]
) -> None:
    """Cut off while checking the project (a slow store): nothing was published."""
    adapters, gated = gated_adapters()
    hanging = HangingProjectRead(adapters.store.get)
    adapters.store.get = hanging  # type: ignore[method-assign]
    answers = await answers_at_the_deadline(adapters, event, data, hanging.reading, hanging.release)
    assert gated.calls == 0
    assert [answer["data"] for answer in answers] == [not_accepted(event)]


@each_kind(PROJECT_FRAMES)  # a command's doubt is its own test, above
async def test_frames_handed_to_the_broker_and_unconfirmed_at_the_deadline_may_still_run(
    event: str, data: dict[str, Any]
) -> None:
    """A broker slow to confirm: the echo, the agent's answer or the entity will tell."""
    outcomes = {
        "message": "the message: it may still be posted",
        "agent_message": "the agent_message: it may still be posted",
        "state_change": "the change: it may still be applied",
    }
    adapters, gated = gated_adapters()
    answers = await answers_at_the_deadline(adapters, event, data, gated.waiting, gated.release)
    assert [answer["data"] for answer in answers] == [
        {
            "code": "unavailable",
            "message": "this server shut down before the broker confirmed " + outcomes[event],
            "may_still_run": True,
        }
    ]


async def test_a_join_cut_short_at_the_deadline_is_told_to_ask_again() -> None:
    """A join reading history when the deadline comes: not finished, safe to send again."""
    adapters, _ = gated_adapters()
    owner = UserInfo(id="u1", username="u1")
    await adapters.store.commit([Write(PROJECT, "p", new_project("p", "P", owner), 0)])
    reading, release = threading.Event(), threading.Event()

    async def history_that_hangs(topic: str, count: int) -> list[tuple[int, bytes]]:
        reading.set()
        await asyncio.to_thread(release.wait, 30)
        return []

    adapters.history.latest = history_that_hangs  # type: ignore[method-assign]
    join = {"project_id": "p", "channel": "general"}
    with served_gateway(adapters, going_away_protocol(0.5)) as (url, server):
        async with websockets.connect(url, ping_interval=None, compression=None) as ws:
            await authenticated(ws)
            await ws.send(json.dumps({"event": "join_channel", "id": "j1", "data": join}))
            assert await asyncio.to_thread(reading.wait, 5)
            await shut_down(server)
            answers = [frame async for frame in frames(ws) if frame.get("ref") == "j1"]
        release.set()
    assert [(a["event"], a["data"]["code"]) for a in answers] == [("error", "unavailable")]
    assert "may_still_run" not in answers[0]["data"]
    assert answers[0]["data"]["message"] == (
        "the join_channel was not finished: this server is shutting down; send it again"
    )


async def test_a_frame_sent_while_the_socket_is_still_being_set_up_is_refused() -> None:
    """Shutdown after `connected` and before the gateway reads (its session still being
    registered): a frame that comes then is answered `unavailable`, not dropped."""
    adapters, _ = gated_adapters()
    registering, release = threading.Event(), threading.Event()
    open_session = adapters.sessions.open

    async def slow_open(user_id: str, session_id: str, gateway_id: str, limit: int) -> list[str]:
        registering.set()
        await asyncio.to_thread(release.wait, 30)
        return await open_session(user_id, session_id, gateway_id, limit)

    adapters.sessions.open = slow_open  # type: ignore[method-assign]
    with served_gateway(adapters, going_away_protocol(0.5)) as (url, server):
        async with websockets.connect(url, ping_interval=None, compression=None) as ws:
            await authenticated(ws)
            assert await asyncio.to_thread(registering.wait, 5)
            await shut_down(server)
            command = {"event": "command", "id": "c1", "data": {"command": "/help"}}
            await ws.send(json.dumps(command))
            answers = [frame async for frame in frames(ws)]
        release.set()
    assert [(a["event"], a["ref"], a["data"]["code"]) for a in answers] == [
        ("error", "c1", "unavailable")
    ]


async def test_a_reader_waiting_for_room_still_reads_on_to_the_end() -> None:
    """The inbox full (64 frames behind a publish that hangs): shutdown lets the reader
    queue the rest and reach the end, so every frame is accounted for at the deadline."""
    adapters, gated = gated_adapters()
    queued_frames = 70  # more than HUDDLE_MAX_PENDING_FRAMES' default, 64
    with served_gateway(adapters, going_away_protocol(0.5)) as (url, server):
        async with websockets.connect(url, ping_interval=None, compression=None) as ws:
            await command_being_published(ws, gated)
            read = await asyncio.to_thread(frames_read, url)
            for i in range(queued_frames):
                command = {"event": "command", "id": f"q{i}", "data": {"command": "/state"}}
                await ws.send(json.dumps(command))
            # c1 and 63 behind it fill the inbox; the reader has read one more and waits.
            await until_read(url, read + 64)
            await shut_down(server)
            answers = {frame["ref"] for frame in [f async for f in frames(ws)]}
        gated.release.set()
    assert answers == {"c1"} | {f"q{i}" for i in range(queued_frames)}


async def test_a_socket_still_authenticating_is_closed_1001() -> None:
    adapters, _ = gated_adapters()
    with served_gateway(adapters, going_away_protocol(0.5)) as (url, server):
        async with websockets.connect(url, ping_interval=None, compression=None) as ws:
            await shut_down(server)
            assert [frame async for frame in frames(ws)] == []
            assert ws.close_code == 1001
