"""A frame the broker may have taken is published again with its id, never refused twice over."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from redis.exceptions import OutOfMemoryError

from services.common.access import PROJECT
from services.common.adapters import memory_adapters
from services.common.bus import (
    BusBlocked,
    BusInDoubt,
    BusUnavailable,
    publish_resolving_doubt,
)
from services.common.contracts import UserInfo
from services.common.jsonutil import server_frame
from services.common.logs import ThrottledLog
from services.common.store import Write
from services.gateway.settings import GatewaySettings
from services.orchestrator.model import new_project
from tests.unit.test_gateway_sockets import MODE_CHANGE, authenticate, gateway_client, token


class FlakyPublish:
    """Raises the given errors on the first publishes, then publishes for real."""

    def __init__(self, real: Any, errors: list[BusUnavailable]) -> None:
        self.real, self.errors = real, errors
        self.message_ids: list[str] = []

    async def __call__(self, exchange: str, routing_key: str, body: bytes, **kw: Any) -> None:
        self.message_ids.append(kw["message_id"])
        if self.errors:
            raise self.errors.pop(0)
        await self.real(exchange, routing_key, body, **kw)


def send_command(
    errors: list[BusUnavailable],
    frame: dict[str, Any] | None = None,
    *,
    publish: Any = None,
    **settings: Any,
) -> tuple[dict[str, Any], list[str]]:
    """Send one frame (a command by default) through a publish raising `errors` first, then
    `publish` (the in-process bus's by default); return its first answer and the ids sent."""
    adapters = memory_adapters(GatewaySettings(namespace="unit"))
    owner = UserInfo(id="u1", username="u1")  # the token's user, for a chat frame's project
    asyncio.run(adapters.store.commit([Write(PROJECT, "p", new_project("p", "P", owner), 0)]))
    flaky = FlakyPublish(publish or adapters.bus.publish, errors)
    adapters.bus.publish = flaky  # type: ignore[method-assign]
    with (
        gateway_client(adapters, amqp_reconnect_s=0.01, **settings) as tc,
        tc.websocket_connect("/ws") as ws,
    ):
        authenticate(ws, token())
        ws.send_json(frame or {"event": "command", "id": "c1", "data": {"command": "/help"}})
        answer: dict[str, Any] = ws.receive_json()
    return answer, flaky.message_ids


def test_an_in_doubt_publish_is_retried_with_the_same_id() -> None:
    answer, ids = send_command([BusInDoubt("connection lost"), BusInDoubt("connection lost")])
    assert answer["event"] == "command_received" and answer["ref"] == "c1"
    assert len(ids) == 3 and len(set(ids)) == 1


def test_a_frame_never_handed_over_is_refused_at_once() -> None:
    answer, ids = send_command([BusUnavailable("channel closed")])
    assert answer["event"] == "error" and answer["ref"] == "c1"
    assert answer["data"] == {
        "code": "unavailable",
        "message": "the command was not accepted: broker unavailable",
    }
    assert len(ids) == 1


def test_in_doubt_stays_in_doubt_when_a_retry_finds_the_channel_closed() -> None:
    """The broker may hold the first copy: a retry refused by a closed channel (the broker
    restarting) retries again rather than telling the client it was not accepted."""
    errors = [BusInDoubt("connection lost"), BusUnavailable("channel closed")]
    answer, ids = send_command(errors)
    assert answer["event"] == "command_received" and answer["ref"] == "c1"
    assert len(ids) == 3 and len(set(ids)) == 1


def test_in_doubt_then_closed_past_the_retry_window_says_may_still_run() -> None:
    errors = [BusInDoubt("no confirm"), BusUnavailable("channel closed")] * 1000
    answer, ids = send_command(errors, publish_retry_s=0.05)
    assert answer["data"]["code"] == "unavailable"
    assert "may still run" in answer["data"]["message"]
    assert len(ids) >= 2


def test_in_doubt_past_the_retry_window_says_so() -> None:
    """`publish_retry_s=0`: no retry; the client hears that the command may still run, also
    in a field a program can read."""
    answer, ids = send_command([BusInDoubt("no confirm")], publish_retry_s=0)
    assert answer["data"]["code"] == "unavailable"
    assert "may still run" in answer["data"]["message"]
    assert answer["data"]["may_still_run"] is True
    assert len(ids) == 1


def test_a_chat_message_in_doubt_is_called_a_message_and_has_no_command_id() -> None:
    """No result comes for a chat message: the echo in the channel shows whether it went."""
    message = {"project_id": "p", "channel": "general", "text": "hi"}
    frame = {"event": "message", "id": "m1", "data": message}
    answer, _ = send_command([BusInDoubt("no confirm")], frame, publish_retry_s=0)
    assert answer["ref"] == "m1"
    assert answer["data"] == {
        "code": "unavailable",
        "message": "the broker did not confirm the message in time: it may still run when the "
        "broker returns",
        "may_still_run": True,
    }


def test_an_in_doubt_command_carries_its_id_for_a_result_after_a_reconnect() -> None:
    answer, ids = send_command([BusInDoubt("no confirm")], publish_retry_s=0)
    assert answer["data"]["command_id"] == ids[0]


def test_a_publish_that_fails_unforeseen_may_still_run_and_lets_its_result_out() -> None:
    """A bug, not a broker refusal, after the broker took the command: the client hears
    `internal` that it may still run (with its id), and the result, which may still come,
    goes out with its ref, not held for a `command_received` that will never be sent."""
    adapters = memory_adapters(GatewaySettings(namespace="unit"))
    real_publish = adapters.bus.publish

    async def publish_then_fail(exchange: str, routing_key: str, body: bytes, **kw: Any) -> None:
        await real_publish(exchange, routing_key, body, **kw)
        result = {"command_id": kw["message_id"], "ok": True}
        frame = server_frame("command_result", result)
        await adapters.history.append_and_fan_out("user:u1", "e1", frame, adapters.fanout)
        raise RuntimeError("a bug after the broker took it")

    adapters.bus.publish = publish_then_fail  # type: ignore[method-assign]
    with (
        gateway_client(adapters) as tc,
        tc.websocket_connect("/ws") as ws,
    ):
        authenticate(ws, token())
        ws.send_json({"event": "command", "id": "c1", "data": {"command": "/help"}})
        ws.send_json({"event": "ping", "id": "p1"})
        answers = [ws.receive_json()]
        while answers[-1]["event"] != "pong":  # the ping is answered after the command
            answers.append(ws.receive_json())
    events = [(a["event"], a.get("ref")) for a in answers]
    assert events == [("error", "c1"), ("command_result", "c1"), ("pong", "p1")]
    command_id = answers[1]["data"]["command_id"]
    assert answers[0]["data"] == {
        "code": "internal",
        "message": "the server failed while sending the command: it may still run",
        "may_still_run": True,
        "command_id": command_id,
    }


class FailingPublish:
    """A publish that fails with a bug, after handing the message to the broker or not."""

    def __init__(self, handed_over: bool) -> None:
        self.handed_over = handed_over

    async def __call__(self, *args: Any, on_sent: Any = None, **kw: Any) -> None:
        if self.handed_over and on_sent is not None:
            on_sent()
        raise RuntimeError("a bug")


@pytest.mark.parametrize(
    ("handed_over", "expected"),
    [
        (
            True,
            {
                "code": "internal",
                "message": "the server failed while sending the state_change: it may still run",
                "may_still_run": True,
            },
        ),
        (False, {"code": "internal", "message": "the server failed to handle state_change"}),
    ],
    ids=["handed_over", "not_handed_over"],
)
def test_a_board_change_failing_unforeseen_may_still_apply_once_handed_over(
    handed_over: bool, expected: dict[str, Any]
) -> None:
    """A bug after the broker was handed the change: `internal`, and it may still apply
    (the web client then leaves the card where the user put it until the board says)."""
    frame = {"event": "state_change", "id": "s1", "data": MODE_CHANGE}
    answer, _ = send_command([], frame, publish=FailingPublish(handed_over))
    assert answer["data"] == expected


def test_a_publish_blocked_by_the_broker_waits_for_the_alarm_to_clear() -> None:
    """A memory or disk alarm that clears within the retry window only delays the command."""
    answer, ids = send_command([BusBlocked("alarm"), BusBlocked("alarm")])
    assert answer["event"] == "command_received" and answer["ref"] == "c1"
    assert len(ids) == 3 and len(set(ids)) == 1


def test_a_publish_still_blocked_past_the_retry_window_is_refused_as_not_sent() -> None:
    """Nothing was written while the broker blocked: the refusal is certain, not "may run"."""
    answer, ids = send_command([BusBlocked("alarm")] * 1000, publish_retry_s=0.05)
    assert answer["event"] == "error" and answer["ref"] == "c1"
    assert answer["data"] == {
        "code": "unavailable",
        "message": "the command was not sent: the message broker refuses new messages for now "
        "(it is low on memory or disk); send it again later",
    }
    assert len(ids) >= 2


def test_in_doubt_then_blocked_stays_in_doubt() -> None:
    errors = [BusInDoubt("no confirm"), BusBlocked("alarm")] * 1000
    answer, _ = send_command(errors, publish_retry_s=0.05)
    assert "may still run" in answer["data"]["message"]


def test_blocked_then_closed_is_refused_as_not_accepted() -> None:
    """Neither attempt wrote the frame: no doubt to resolve."""
    answer, ids = send_command([BusBlocked("alarm"), BusUnavailable("channel closed")])
    assert answer["data"]["message"] == "the command was not accepted: broker unavailable"
    assert len(ids) == 2


def test_redis_unavailable_before_the_publish_is_refused_as_not_accepted() -> None:
    """Redis out of memory while the gateway checks the project: `unavailable`, nothing sent."""
    adapters = memory_adapters(GatewaySettings(namespace="unit"))

    async def out_of_memory(*args: Any, **kwargs: Any) -> None:
        raise OutOfMemoryError("command not allowed when used memory > 'maxmemory'")

    flaky = FlakyPublish(adapters.bus.publish, [])
    adapters.bus.publish = flaky  # type: ignore[method-assign]
    with gateway_client(adapters) as tc, tc.websocket_connect("/ws") as ws:
        authenticate(ws, token())
        adapters.store.get = out_of_memory  # type: ignore[method-assign]
        ws.send_json(
            {"event": "command", "id": "c1", "data": {"command": "/help", "project_id": "p1"}}
        )
        answer: dict[str, Any] = ws.receive_json()
    assert answer["event"] == "error" and answer["ref"] == "c1"
    assert answer["data"] == {
        "code": "unavailable",
        "message": "the command was not accepted: Huddle's data store is unavailable for now; "
        "send it again shortly",
    }
    assert flaky.message_ids == []


def test_throttled_log_writes_one_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.throttled")
    throttled = ThrottledLog(logger, interval_s=3600)
    with caplog.at_level(logging.WARNING, logger="test.throttled"):
        for i in range(100):
            throttled.warning("refused %d", i)
    assert [r.getMessage() for r in caplog.records] == ["refused 0"]
    throttled._last = float("-inf")  # the interval has passed
    with caplog.at_level(logging.WARNING, logger="test.throttled"):
        throttled.warning("refused %d", 100)
    assert caplog.records[-1].getMessage() == (
        "refused 100 (and 99 more like it since the last such line)"
    )


async def test_the_shared_retry_raises_what_stays_in_doubt_and_what_was_refused() -> None:
    """`publish_resolving_doubt` (commands and UI changes alike): same id, bounded, typed."""
    bus = memory_adapters(GatewaySettings(namespace="unit")).bus
    flaky = FlakyPublish(bus.publish, [BusInDoubt("lost"), BusInDoubt("lost")])
    bus.publish = flaky  # type: ignore[method-assign]
    retries: list[int] = []
    await publish_resolving_doubt(
        bus,
        "x",
        "change.request",
        b"{}",
        message_id="m1",
        retry_s=5,
        pause_s=0,
        on_retry=lambda: retries.append(1),
    )
    assert flaky.message_ids == ["m1"] * 3 and len(retries) == 2
    flaky.errors = [BusInDoubt("lost")] * 3
    with pytest.raises(BusInDoubt):
        await publish_resolving_doubt(bus, "x", "k", b"{}", message_id="m2", retry_s=0, pause_s=0)
    flaky.errors = [BusUnavailable("closed")]
    with pytest.raises(BusUnavailable):
        await publish_resolving_doubt(bus, "x", "k", b"{}", message_id="m3", retry_s=5, pause_s=0)


async def test_a_late_confirm_on_an_open_channel_is_awaited_not_copied() -> None:
    """The broker has the frame and its confirm is late: wait for it, send no copy; a copy
    goes only once that publish failed (its channel closed), and nothing waits past `retry_s`."""
    bus = memory_adapters(GatewaySettings(namespace="unit")).bus
    loop = asyncio.get_running_loop()
    late: asyncio.Future[None] = loop.create_future()
    loop.call_later(0.2, late.set_result, None)
    flaky = FlakyPublish(bus.publish, [BusInDoubt("no confirm yet", pending=late)])
    bus.publish = flaky  # type: ignore[method-assign]
    await publish_resolving_doubt(bus, "x", "k", b"{}", message_id="m1", retry_s=5, pause_s=0)
    assert flaky.message_ids == ["m1"]  # confirmed late: never sent again

    closed: asyncio.Future[None] = loop.create_future()
    loop.call_later(0.1, closed.set_exception, ConnectionError("channel closed"))
    flaky.errors = [BusInDoubt("no confirm yet", pending=closed)]
    await publish_resolving_doubt(bus, "x", "k", b"{}", message_id="m2", retry_s=5, pause_s=0)
    assert flaky.message_ids == ["m1", "m2", "m2"]  # the original failed: a copy went

    never: asyncio.Future[None] = loop.create_future()
    flaky.errors = [BusInDoubt("no confirm yet", pending=never)]
    started = loop.time()
    with pytest.raises(BusInDoubt):
        await publish_resolving_doubt(bus, "x", "k", b"{}", message_id="m3", retry_s=0.3, pause_s=0)
    assert 0.25 < loop.time() - started < 2
    never.cancel()
