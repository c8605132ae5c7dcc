"""The local stack for tests: five service processes in a namespace of their own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import drop_namespace, new_namespace
from tests.processes import Processes, free_ports, running, wait_ready
from tests.services_env import Backends

SERVICES = ("auth", "orchestrator", "sync", "metrics", "gateway")


@dataclass(frozen=True)
class Stack:
    ports: dict[str, int]
    namespace: str
    processes: Processes
    redis_url: str

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ports['gateway']}/ws"


def stack_env(backends: Backends, namespace: str, ports: Mapping[str, int]) -> dict[str, str]:
    """The settings of a stack in `namespace` with each service on its port of `ports`."""
    return {
        "HUDDLE_NAMESPACE": namespace,
        "HUDDLE_AMQP_URL": backends.amqp_url,
        "HUDDLE_REDIS_URL": backends.redis_url,
        "HUDDLE_AUTH_URL": f"http://127.0.0.1:{ports['auth']}",
        **{f"HUDDLE_{service.upper()}_PORT": str(port) for service, port in ports.items()},
    }


@contextmanager
def run_stack(
    backends: Backends, log_dir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """Start the stack on free ports, wait until every service is ready, remove it afterwards."""
    namespace = new_namespace()
    ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
    env = {**stack_env(backends, namespace, ports), **(extra_env or {})}
    modules = {service: f"services.{service}" for service in SERVICES}
    try:
        with running(modules, env, log_dir) as processes:
            for service in SERVICES:
                wait_ready(f"http://127.0.0.1:{ports[service]}/readyz", processes[service])
            yield Stack(ports, namespace, processes, backends.redis_url)
    finally:
        # In a thread of its own: sync Playwright keeps an event loop running in this one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, drop_namespace(backends, namespace)).result()
