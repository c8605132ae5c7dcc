"""`make stack`'s runner (`python -m services.stack`): it starts the five services and, however
it is stopped, stops them all (none is left holding its port)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from tests.conftest import drop_namespace, new_namespace
from tests.processes import ROOT, free_ports, wait_ready
from tests.services_env import Backends
from tests.stack import SERVICES, stack_env


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_runner_stops_every_service(
    backends: Backends, tmp_path: Path, stop: signal.Signals
) -> None:
    namespace = new_namespace()
    ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
    env = {**os.environ, **stack_env(backends, namespace, ports)}
    with (tmp_path / "stack.log").open("wb") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "services.stack"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    services: list[psutil.Process] = []
    try:
        wait_ready(f"http://127.0.0.1:{ports['gateway']}/readyz", runner, timeout_s=90)
        services = psutil.Process(runner.pid).children()
        assert len(services) == len(SERVICES)

        runner.send_signal(stop)
        assert runner.wait(timeout=30) is not None
        _, alive = psutil.wait_procs(services, timeout=15)
        assert alive == [], f"left running after {stop.name}: {alive}"
    finally:
        if runner.poll() is None:
            # Counted again: a service started after the count above would outlive the test
            # and declare its topology again once the namespace is dropped.
            with contextlib.suppress(psutil.NoSuchProcess):
                services = [*services, *psutil.Process(runner.pid).children(recursive=True)]
            runner.kill()
            runner.wait(timeout=15)
        for service in services:
            if service.is_running():
                service.kill()
        psutil.wait_procs(services, timeout=15)
        asyncio.run(drop_namespace(backends, namespace))
