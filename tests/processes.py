"""Starting Huddle processes for tests, on free ports, and stopping them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@contextmanager
def running(
    modules: Mapping[str, str], env: Mapping[str, str], log_dir: Path
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start `python -m <module>` for each name; SIGTERM them all at the end."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    full_env = {**os.environ, **env}
    try:
        for name, module in modules.items():
            log = (log_dir / f"{name}.log").open("wb")
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", module], cwd=ROOT, env=full_env, stdout=log, stderr=log
            )
        yield processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
