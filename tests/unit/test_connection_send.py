"""A frame goes straight to a writable socket; behind a busy one it waits, in order, bounded."""

from __future__ import annotations

import asyncio
from typing import Any

from services.common.contracts import UserInfo
from services.common.shutdown import SEND_NOW, WAIT_WRITABLE
from services.common.tokens import Claims
from services.gateway.connection import CLOSE_TOO_SLOW, Connection
from services.gateway.ratelimit import TokenBucket


class Socket:
    """The scope extensions of the gateway's socket protocol, over a list of written frames."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.writable = asyncio.Event()
        self.writable.set()
        self.scope: dict[str, Any] = {
            "extensions": {SEND_NOW: self.send_now, WAIT_WRITABLE: self.writable.wait}
        }
        self.closed: int | None = None

    def send_now(self, frame: bytes) -> bool:
        if not self.writable.is_set():
            return False
        self.written.append(frame)
        return True

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = code


def connection(socket: Socket, queue_max: int = 4) -> Connection:
    claims = Claims(user=UserInfo(id="u1", username="u1"), session_id="s", expires_at=2e9)
    conn = Connection(
        socket,  # type: ignore[arg-type]  # only the scope extensions and close are used
        claims,
        "s",
        send_queue_max=queue_max,
        max_pending_commands=10,
        bucket=TokenBucket(10, 10, 10),
    )
    conn.start()
    return conn


async def test_a_writable_socket_gets_the_frame_at_once() -> None:
    socket = Socket()
    conn = connection(socket)
    conn.send(b"1")
    conn.send(b"2")
    assert socket.written == [b"1", b"2"]
    assert conn.queued == 0


async def test_frames_wait_behind_a_busy_socket_and_keep_their_order() -> None:
    socket = Socket()
    conn = connection(socket)
    socket.writable.clear()
    conn.send(b"1")
    conn.send(b"2")
    assert socket.written == [] and conn.queued == 2
    socket.writable.set()
    conn.send(b"3")  # queued behind the others, not written first
    assert socket.written == [] and conn.queued == 3
    assert conn._writer is not None
    await asyncio.wait_for(conn._writer, 5.0)  # it ends once the queue is drained
    assert socket.written == [b"1", b"2", b"3"]
    conn.send(b"4")
    assert socket.written[-1] == b"4"


async def test_a_socket_that_does_not_drain_is_closed_as_too_slow() -> None:
    socket = Socket()
    conn = connection(socket, queue_max=2)
    socket.writable.clear()
    for frame in (b"1", b"2", b"3"):
        conn.send(frame)
    assert conn.close_code == CLOSE_TOO_SLOW
    assert conn._closer is not None  # a full queue: the close goes out at once
    await asyncio.wait_for(conn._closer, 5.0)
    assert socket.closed == CLOSE_TOO_SLOW
    await conn.stop(drain_s=0.1)


async def test_stop_survives_its_writer_being_cancelled_meanwhile() -> None:
    """A slow socket abandoned while stop() waits for its writer: stop() still returns."""
    socket = Socket()
    conn = connection(socket)
    socket.writable.clear()
    conn.send(b"1")  # waits: a writer task now drains the queue
    conn.close(4000, "bye")
    stopping = asyncio.create_task(conn.stop(drain_s=5))
    await asyncio.sleep(0.01)
    assert conn._writer is not None
    conn._writer.cancel()  # what abandoning a slow socket does
    await asyncio.wait_for(stopping, 1)
