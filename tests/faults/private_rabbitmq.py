"""A RabbitMQ node of the test's own (node name, ports, data directory) it may stop and restart."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from tests.processes import free_ports

BIN = Path("/usr/lib/rabbitmq/bin")
# The rabbitmq user's home holds the Erlang cookie the server and rabbitmqctl must share.
HOME = "/var/lib/rabbitmq"


class PrivateRabbitMQ:
    """`rabbitmq-server` as the rabbitmq user on free loopback ports; never the shared 5672."""

    def __init__(self) -> None:
        # Not pytest's tmp_path: its parents are root's alone and the node runs as rabbitmq.
        self.directory = Path(tempfile.mkdtemp(prefix="huddle-rabbitmq-"))
        shutil.chown(self.directory, "rabbitmq", "rabbitmq")
        self.port, self.dist_port = free_ports(2)
        self.node = f"huddle-test-{uuid.uuid4().hex[:8]}@localhost"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        d = self.directory
        return {
            "HOME": HOME,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "plugins"),
            # Own config files: the machine's name port 5672 (the shared broker's).
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def _as_rabbitmq(self, *args: str) -> list[str]:
        env = [f"{k}={v}" for k, v in self._env().items()]
        return ["runuser", "-u", "rabbitmq", "--", "env", "-i", *env, *args]

    def start(self, timeout_s: float = 60) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        if not (BIN / "rabbitmq-server").exists() or shutil.which("runuser") is None:
            pytest.fail("rabbitmq-server is not installed (Debian package rabbitmq-server)")
        config = self.directory / "rabbitmq.conf"
        config.write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n")
        (self.directory / "rabbitmq-env.conf").write_text("")
        log = (self.directory / "server.log").open("ab")
        self.process = subprocess.Popen(
            self._as_rabbitmq(str(BIN / "rabbitmq-server")), stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout_s
        while not self._accepts():
            if self.process.poll() is not None:
                raise AssertionError(f"rabbitmq-server exited, see {self.directory}/server.log")
            if time.monotonic() > deadline:
                raise AssertionError(f"private RabbitMQ not up after {timeout_s} s")
            time.sleep(0.2)
        while True:  # rabbitmqctl may not reach a node that has only just started listening
            try:
                self._ctl("await_startup", "--timeout", "10")
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1):
                return True
        except OSError:
            return False

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            self._as_rabbitmq(str(BIN / "rabbitmqctl"), "-n", self.node, *args),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop(self) -> None:
        """Stop the node (rabbitmqctl stop), killing it if that does not work."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self._ctl("stop")
            self.process.wait(timeout=30)
        except (subprocess.SubprocessError, OSError):
            self.process.kill()
            self.process.wait(timeout=10)

    def raise_memory_alarm(self) -> None:
        """Set the memory watermark near zero: the node blocks every publishing connection."""
        self._ctl("set_vm_memory_high_watermark", "0.000001")

    def clear_memory_alarm(self) -> None:
        """Set the watermark back to RabbitMQ's default (0.4 of the RAM)."""
        self._ctl("set_vm_memory_high_watermark", "0.4")

    def memory_alarm(self, for_s: float) -> None:
        """A memory alarm for `for_s`, then cleared."""
        self.raise_memory_alarm()
        try:
            time.sleep(for_s)
        finally:
            self.clear_memory_alarm()

    def freeze(self, for_s: float) -> None:
        """SIGSTOP the node's Erlang VM for `for_s` (connections open, nothing answered)."""
        assert self.process is not None
        launched = psutil.Process(self.process.pid)
        vm = next((p for p in launched.children(recursive=True) if p.name() == "beam.smp"), None)
        assert vm is not None, "no beam.smp under the node's launcher"
        vm.suspend()
        try:
            time.sleep(for_s)
        finally:
            vm.resume()

    def restart(self, down_s: float = 1.0) -> None:
        """Stop, stay down for `down_s`, start again with the same node, ports and data."""
        self.stop()
        time.sleep(down_s)
        self.start()


@contextmanager
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    """A started private RabbitMQ, stopped and its data removed at the end."""
    server = PrivateRabbitMQ()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
