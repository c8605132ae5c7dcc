"""Many cheap WebSocket clients in one process, and the parent side that drives such processes.

A worker (`python -m tests.bench.swarm`) opens `--count` sockets to a Huddle gateway, a bare
`websockets` server or a python-socketio server, says `ready` on stdout, and then, for every
round marker (`bench-r<n>-`) that has reached all of its sockets, prints the monotonic time of
the last arrival. It reads raw frames with a minimal parser (no JSON, no per-message task), so
that the clients cost the shared CPU as little as possible and the server's cost dominates.
`time.monotonic_ns()` is CLOCK_MONOTONIC, one clock for every process of the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

Kind = Literal["huddle", "bare", "sio"]
MARKER = re.compile(rb"bench-r(\d+)-")
ROOT = Path(__file__).resolve().parents[2]
# Handshakes in flight over all the processes of a group: a gateway's Redis pool (redis-py's
# default: 100 connections, then "Too many connections") must not run dry while they join.
OPENING = 32


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (RFC 6455 §5.2) carrying `payload`."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    elif size < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big") if size else 0
    body = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big") if size else b""
    return head + mask + body


class Socket(asyncio.Protocol):
    """One client socket: the upgrade, then server frames handed to `on_message`."""

    def __init__(self, swarm: Swarm, host: str, path: str) -> None:
        self.swarm = swarm
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
        ).encode()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False
        self.waiting: tuple[bytes, asyncio.Future[None]] | None = None
        self.inbox: list[bytes] = []  # set-up answers that came before they were awaited
        self.seen: set[int] = set()
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if self.waiting is not None and not self.waiting[1].done():
            self.waiting[1].set_exception(ConnectionError("closed"))

    def send(self, payload: bytes, opcode: int = 0x1) -> None:
        assert self.transport is not None
        self.transport.write(client_frame(payload, opcode))

    async def expect(self, needle: bytes, send: bytes = b"", within_s: float = 60) -> None:
        """Send `send` (if any), then wait for a message containing `needle` (b" 101 ": upgrade)."""
        future = asyncio.get_running_loop().create_future()
        self.waiting = (needle, future)
        if send:
            self.send(send)
        early, self.inbox = self.inbox, []
        for message in early:
            self._check(message)
        try:
            await asyncio.wait_for(future, within_s)
        except TimeoutError:
            raise TimeoutError(f"no {needle!r} in {within_s} s; got {self.inbox[-3:]}") from None

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            self.upgraded = True
            self._check(buffer[:end])
            buffer = buffer[end + 4 :]
        at = 0
        size = len(buffer)
        while size - at >= 2:
            opcode, length = buffer[at] & 0x0F, buffer[at + 1] & 0x7F
            start = at + 2
            if length == 126:
                if size - at < 4:
                    break
                length, start = int.from_bytes(buffer[at + 2 : at + 4], "big"), at + 4
            elif length == 127:
                if size - at < 10:
                    break
                length, start = int.from_bytes(buffer[at + 2 : at + 10], "big"), at + 10
            if size < start + length:
                break
            payload = buffer[start : start + length]
            at = start + length
            if opcode == 0x9:
                self.send(payload, 0xA)  # pong
            elif opcode in (0x1, 0x2):
                self.on_message(payload)
        self.buffer = buffer[at:]

    def _check(self, message: bytes) -> None:
        if self.waiting is not None and self.waiting[0] in message:
            future = self.waiting[1]
            self.waiting = None
            if not future.done():
                future.set_result(None)
        elif len(self.inbox) < 64:
            self.inbox.append(message)

    def on_message(self, payload: bytes) -> None:
        if payload == b"2":  # an engine.io ping
            self.send(b"3")
            return
        if self.waiting is not None and self.waiting[0] in payload:
            self._check(payload)  # a set-up answer (a join's history may hold markers)
            return
        found = MARKER.search(payload)
        if found is not None:
            round_no = int(found.group(1))
            if round_no not in self.seen:
                self.seen.add(round_no)
                self.swarm.arrived(round_no, time.monotonic_ns())
            return
        self._check(payload)


@dataclass
class Swarm:
    """The sockets of one worker, and when each round reached them."""

    size: int
    arrivals: dict[int, list[int]] = field(default_factory=dict)  # round: [count, last_ns]

    def arrived(self, round_no: int, now: int) -> None:
        entry = self.arrivals.setdefault(round_no, [0, 0])
        entry[0] += 1
        entry[1] = max(entry[1], now)
        if entry[0] == self.size:
            print(f"round {round_no} {entry[1]}", flush=True)


async def open_socket(swarm: Swarm, kind: Kind, url: str, token: str, join: str) -> Socket:
    """Connect one socket and bring it to where it receives the broadcast."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    if kind == "sio":
        path = "/socket.io/?EIO=4&transport=websocket"
    loop = asyncio.get_running_loop()
    _, sock = await loop.create_connection(
        lambda: Socket(swarm, f"{host}:{port}", path), host, port
    )
    await sock.expect(b" 101 ")
    if kind == "huddle":
        auth = {"event": "auth", "data": {"token": token}}
        await sock.expect(b'"event":"connected"', json.dumps(auth).encode())
        if join:
            project, channel = join.split("/")  # one of the worker's channels
            frame = {"event": "join_channel", "data": {"project_id": project, "channel": channel}}
            await sock.expect(b'"event":"joined_channel"', json.dumps(frame).encode())
    elif kind == "sio":
        await sock.expect(b"0{")  # engine.io open
        await sock.expect(b"40{", b"40")  # socket.io connect to "/"
    return sock


async def run_worker(
    kind: Kind, url: str, count: int, tokens: Sequence[str], join: str, concurrency: int
) -> None:
    """Open the sockets, report `ready`, report rounds, close when stdin says so (or ends)."""
    swarm = Swarm(count)
    joins = [j for j in join.split(",") if j]  # socket i joins channel i modulo their number
    sockets: list[Socket] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            token = tokens[i % len(tokens)] if tokens else ""
            channel = joins[i % len(joins)] if joins else ""
            sockets.append(await open_socket(swarm, kind, url, token, channel))

    await asyncio.gather(*(one(i) for i in range(count)))
    print(f"ready {len(sockets)}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    for sock in sockets:
        if sock.transport is not None:
            sock.transport.close()


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line.strip())
    lines.put(None)


class Workers:
    """Worker processes that together hold `total` sockets."""

    def __init__(
        self,
        kind: Kind,
        url: str,
        total: int,
        processes: int,
        tokens: Sequence[str] = (),
        join: str = "",
        opening: int = OPENING,
    ) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.size = total
        per, extra = divmod(total, processes)
        for i in range(processes):
            count = per + (1 if i < extra else 0)
            if count == 0:
                continue
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tests.bench.swarm",
                        kind,
                        url,
                        str(count),
                        "--join",
                        join,
                        "--tokens",
                        ",".join(tokens),
                        "--concurrency",
                        str(max(1, opening // processes)),
                    ],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )

        # A thread per worker reads its lines: a pipe's buffer hides lines from select().
        self.lines: dict[int, queue.Queue[str | None]] = {}
        for proc in self.procs:
            lines = self.lines[proc.pid] = queue.Queue()
            threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()

    def extend(self, other: Workers) -> None:
        """Take over another group's processes: rounds then wait for both."""
        self.procs += other.procs
        self.lines.update(other.lines)
        self.size += other.size
        other.procs = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def wait_ready(self, within_s: float = 600) -> int:
        """Block until every worker has its sockets open; return how many."""
        deadline = time.monotonic() + within_s
        opened = 0
        for proc in self.procs:
            line = self._line(proc, deadline)
            if not line.startswith("ready "):
                raise RuntimeError(f"swarm worker said {line!r}")
            opened += int(line.split()[1])
        return opened

    def wait_round(self, round_no: int, within_s: float = 60) -> int | None:
        """The last arrival (monotonic ns) of `round_no` over every worker; None: not all came."""
        deadline = time.monotonic() + within_s
        last = 0
        for proc in self.procs:
            while True:
                try:
                    line = self._line(proc, deadline)
                except TimeoutError:
                    return None
                words = line.split()
                if words[:2] == ["round", str(round_no)]:
                    last = max(last, int(words[2]))
                    break
        return last

    def _line(self, proc: subprocess.Popen[str], deadline: float) -> str:
        try:
            line = self.lines[proc.pid].get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError("swarm worker silent") from None
        if line is None:
            raise RuntimeError(f"swarm worker {proc.pid} exited ({proc.poll()})")
        return line

    def close(self) -> None:
        """Tell every worker to close its sockets, and wait for it."""
        for proc in self.procs:
            if proc.poll() is None and proc.stdin is not None:
                with suppress(BrokenPipeError):
                    proc.stdin.write("quit\n")
                    proc.stdin.flush()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def server(module: str, *args: str, within_s: float = 30) -> Iterator[subprocess.Popen[str]]:
    """Run `python -m module args...` until it prints `ready`; stop it (stdin closes) after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
        if lines.get(timeout=within_s) != "ready":
            raise RuntimeError(f"{module} did not start ({proc.poll()})")
        yield proc
    finally:
        if proc.stdin is not None:
            with suppress(BrokenPipeError):
                proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    """Run one worker."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["huddle", "bare", "sio"])
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("--join", default="")
    parser.add_argument("--tokens", default="")
    parser.add_argument("--concurrency", type=int, default=OPENING)
    args = parser.parse_args()
    tokens = [t for t in args.tokens.split(",") if t]
    try:
        import uvloop

        uvloop.run(run_worker(args.kind, args.url, args.count, tokens, args.join, args.concurrency))
    except ImportError:
        asyncio.run(
            run_worker(args.kind, args.url, args.count, tokens, args.join, args.concurrency)
        )


if __name__ == "__main__":
    main()
