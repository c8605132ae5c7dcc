"""A Redis of the test's own, on a free port, that the test may stop and restart."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.processes import free_port


class PrivateRedis:
    """redis-server with an append-only file, so a restart keeps the streams."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (Debian package redis-server)")
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=log,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes the append-only file and exits
            self.process.wait(timeout=15)

    def out_of_memory(self, for_s: float) -> None:
        """`maxmemory` 1 byte (no eviction) for `for_s`: every write answers OOM; then none."""
        client = redis.Redis(port=self.port)
        client.config_set("maxmemory", "1")
        try:
            time.sleep(for_s)
        finally:
            client.config_set("maxmemory", "0")

    def restart(self, down_s: float = 1.0) -> None:
        """Stop, stay down for `down_s`, start again on the same port and data."""
        self.stop()
        time.sleep(down_s)
        self.start()


@contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    """A started private Redis, stopped at the end."""
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
