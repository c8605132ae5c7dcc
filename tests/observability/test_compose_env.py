"""The services start and work with the environment docker-compose.yml gives them.

Docker cannot run here, so the compose file's environment (interpolated from a `.env` made by
`make env`, the secrets at the paths compose mounts them replaced by the files it made) is
given to the local stack: production mode, the signing key and admin password from files,
the trusted proxies, the gateway's same-origin auth URL. Only what points at other containers
(broker, Redis, auth URL, ports, namespace) is replaced by this machine's; production refuses
RabbitMQ's guest account, so the test adds a user of its own to the local broker.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import yaml

from tests.client import Client, login
from tests.processes import ROOT
from tests.services_env import Backends
from tests.stack import SERVICES, Stack, run_stack

# What run_stack sets for this machine; compose's values name other containers.
LOCAL = {"HUDDLE_AMQP_URL", "HUDDLE_REDIS_URL", "HUDDLE_AUTH_URL", "HUDDLE_NAMESPACE"}
SECRETS = {"signing_key": "signing-key.pem", "admin_password": "admin-password"}


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?error}` and `$$`."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        if env.get(name):
            return env[name]
        assert op != ":?", f"{name} is required: {arg}"
        return arg if op == ":-" else ""

    replaced = re.sub(r"(?<!\$)\$\{(\w+)(:-|:\?)?([^}]*)\}", one, value)
    return replaced.replace("$$", "$")


def compose_environment(env_file: Path, secrets: Path) -> dict[str, str]:
    """Every Huddle service's environment from docker-compose.yml, merged."""
    dotenv = dict(
        line.split("=", 1)
        for line in env_file.read_text().splitlines()
        if line and not line.startswith("#")
    )
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    merged: dict[str, str] = {}
    for name in SERVICES:
        for key, value in services[name]["environment"].items():
            merged[key] = interpolate(str(value), dotenv)
    for secret, file in SECRETS.items():
        path = str(secrets / file)
        merged = {k: v.replace(f"/run/secrets/{secret}", path) for k, v in merged.items()}
    merged["HUDDLE_HOST"] = "127.0.0.1"  # compose's 0.0.0.0 is for containers
    return {k: v for k, v in merged.items() if k not in LOCAL}


def rabbitmqctl(*args: str) -> None:
    tool = shutil.which("rabbitmqctl") or shutil.which("rabbitmqctl", path="/usr/sbin")
    assert tool is not None, "rabbitmqctl not found: this test needs the local RabbitMQ"
    subprocess.run([tool, "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def broker_user(backends: Backends) -> Iterator[Backends]:
    """The backends with a RabbitMQ user of this test's own (production refuses guest)."""
    user, password = f"huddle-test-{secrets.token_hex(4)}", secrets.token_hex(16)
    rabbitmqctl("add_user", user, password)
    try:
        rabbitmqctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")
        url = urlsplit(backends.amqp_url)
        netloc = f"{user}:{password}@{url.hostname}:{url.port or 5672}"
        yield Backends(urlunsplit(url._replace(netloc=netloc)), backends.redis_url)
    finally:
        rabbitmqctl("delete_user", user)


@pytest.fixture
def compose_stack(backends: Backends, tmp_path: Path) -> Iterator[tuple[Stack, Path]]:
    """The local stack with the compose environment; the folder of the secrets."""
    subprocess.run(["sh", str(ROOT / "deploy/make-env.sh"), str(tmp_path)], check=True)
    secret_files = tmp_path / "deploy" / "secrets"
    env = compose_environment(tmp_path / ".env", secret_files)
    assert env["HUDDLE_ENV"] == "production"
    assert env["HUDDLE_SIGNING_KEY_FILE"] == str(secret_files / "signing-key.pem")
    with broker_user(backends) as own, run_stack(own, tmp_path, env) as stack:
        yield stack, secret_files


async def test_the_stack_runs_with_the_compose_environment(
    compose_stack: tuple[Stack, Path],
) -> None:
    """Production settings from the compose file: the admin logs in, a command goes through."""
    stack, secrets = compose_stack
    admin_password = (secrets / "admin-password").read_text().strip()
    token = await login(stack.url("auth"), "admin", admin_password)
    client = await Client.connect(stack.ws_url, token)
    try:
        await client.send("command", {"command": "/help"})
        result = await client.wait_for(lambda f: f["event"] == "command_result")
        assert result["data"]["ok"]
    finally:
        await client.close()
    async with httpx.AsyncClient(base_url=stack.url("auth")) as http:
        demo = await http.post("/auth/login", json={"username": "demo", "password": "demo"})
    assert demo.status_code == 401  # no demo user in production
