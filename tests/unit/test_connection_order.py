"""A command's result never overtakes its `command_received`, even on a loaded machine."""

from __future__ import annotations

import json
from typing import Any

from services.common.contracts import UserInfo
from services.common.jsonutil import server_frame, with_position
from services.common.tokens import Claims
from services.gateway.connection import Connection
from services.gateway.ratelimit import TokenBucket


def connection() -> Connection:
    claims = Claims(user=UserInfo(id="u1", username="u1"), session_id="s", expires_at=2e9)
    return Connection(
        websocket=None,  # type: ignore[arg-type]  # nothing is written in this test
        claims=claims,
        session_id="s",
        send_queue_max=16,
        max_pending_commands=10,
        bucket=TokenBucket(10, 10, 10),
    )


def queued(conn: Connection) -> list[dict[str, Any]]:
    frames = []
    while conn._out:
        frames.append(json.loads(conn._out.popleft()))
    return frames


async def test_an_early_result_waits_for_the_acknowledgement() -> None:
    conn = connection()
    conn.expect_result("c1", "f1")
    result = with_position(
        server_frame("command_result", {"command_id": "c1", "ok": True}), "user:u1", 1, "e"
    )
    conn.deliver("user:u1", result)
    assert queued(conn) == []
    conn.received("c1", "f1")
    frames = queued(conn)
    assert [f["event"] for f in frames] == ["command_received", "command_result"]
    assert [f.get("ref") for f in frames] == ["f1", "f1"]


async def test_a_result_after_the_acknowledgement_goes_straight_out() -> None:
    conn = connection()
    conn.expect_result("c2", "f2")
    conn.received("c2", "f2")
    conn.deliver("user:u1", server_frame("command_result", {"command_id": "c2", "ok": True}))
    assert [f["event"] for f in queued(conn)] == ["command_received", "command_result"]


async def test_a_command_refused_in_doubt_still_gets_its_result_with_its_ref() -> None:
    """Refused as "may still run", it may run after all: its result goes out with the ref of
    the frame, at once (no `command_received` comes); one refused for certain gets none."""
    conn = connection()
    conn.expect_result("c3", "f3")
    conn.in_doubt("c3")
    conn.deliver("user:u1", server_frame("command_result", {"command_id": "c3", "ok": True}))
    assert [(f["event"], f.get("ref")) for f in queued(conn)] == [("command_result", "f3")]

    conn.expect_result("c4", "f4")
    conn.forget("c4")
    conn.deliver("user:u1", server_frame("command_result", {"command_id": "c4", "ok": True}))
    assert [(f["event"], f.get("ref")) for f in queued(conn)] == [("command_result", None)]


async def test_a_result_that_overtook_a_doubt_goes_out_when_the_doubt_is_told() -> None:
    """The command ran and its result arrived while its publish was still in doubt: it was
    held for the `command_received` that will not come, and goes out once the doubt is told."""
    conn = connection()
    conn.expect_result("c5", "f5")
    conn.deliver("user:u1", server_frame("command_result", {"command_id": "c5", "ok": True}))
    assert queued(conn) == []
    conn.in_doubt("c5")
    assert [(f["event"], f.get("ref")) for f in queued(conn)] == [("command_result", "f5")]


async def test_at_shutdown_a_command_whose_result_came_early_is_not_in_doubt() -> None:
    """Its result proves it ran: it goes out with its ref; only the others are unconfirmed."""
    conn = connection()
    conn.expect_result("c6", "f6")
    conn.expect_result("c7", "f7")
    conn.deliver("user:u1", server_frame("command_result", {"command_id": "c6", "ok": True}))
    assert conn.unconfirmed() == [("c7", "f7")]
    assert conn.flush_early() == 1
    assert [(f["event"], f.get("ref")) for f in queued(conn)] == [("command_result", "f6")]
    assert conn.unconfirmed() == [("c7", "f7")]
