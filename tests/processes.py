"""Starting Huddle processes for tests, on free ports, and stopping them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different TCP ports nobody listens on right now.

    Each socket stays bound until all are picked: one at a time, the kernel may hand out a
    port just released again, and two services of one stack would then share a port.
    """
    with ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """Wait for `url` to answer 200, failing early if the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args!r} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout_s} s")


class Processes:
    """Named `python -m <module>` processes sharing one environment; more can join later."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.by_name: dict[str, subprocess.Popen[bytes]] = {}

    def __getitem__(self, name: str) -> subprocess.Popen[bytes]:
        return self.by_name[name]

    def start(self, name: str, module: str, **env: str) -> subprocess.Popen[bytes]:
        """Start a process (its log goes to `<log_dir>/<name>.log`, appended)."""
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=log,
        )
        self.by_name[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL: no goodbye, no cleanup, like a crash."""
        process = self.by_name[name]
        process.kill()
        process.wait(timeout=10)

    def stop(self, name: str, timeout_s: float = 30) -> None:
        """SIGTERM, as a deploy or `docker compose stop` does; wait for the process to exit."""
        process = self.by_name[name]
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=timeout_s)

    def stop_all(self) -> None:
        for process in self.by_name.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.by_name.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def running(
    modules: Mapping[str, str], env: Mapping[str, str], log_dir: Path
) -> Iterator[Processes]:
    """Start `python -m <module>` for each name; SIGTERM them all at the end."""
    processes = Processes(env, log_dir)
    try:
        for name, module in modules.items():
            processes.start(name, module)
        yield processes
    finally:
        processes.stop_all()
