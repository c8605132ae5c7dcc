"""deploy/ and docker-compose.yml: promtool, compose validation, and agreement with the code."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from fastapi import FastAPI

from services.common.headers import content_security_policy, security_headers
from services.common.settings import CommonSettings
from tests.observability.nginx import check, deploy_config
from tests.observability.prometheus import CONFIG, RULES, tool
from tests.processes import ROOT
from tests.stack import SERVICES

COMPOSE = ROOT / "docker-compose.yml"
NGINX = ROOT / "deploy" / "nginx"
# What `make env` puts in .env, and what compose refuses to start without.
SECRETS = ("RABBITMQ_USER", "RABBITMQ_PASSWORD", "REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD")
# Keys a compose service may have (the Compose Specification's, those this file could use).
SERVICE_KEYS = frozenset(
    {
        *("build", "image", "command", "entrypoint", "environment", "env_file", "ports"),
        *("expose", "volumes", "depends_on", "healthcheck", "restart", "deploy", "secrets"),
        *("networks", "hostname", "logging", "stop_grace_period", "stop_signal", "user"),
        *("working_dir", "labels", "init", "ulimits"),
    }
)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> str:
    """Run a command; fail with its output unless it exits 0."""
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_promtool_checks_the_config_with_its_rules(tmp_path: Path) -> None:
    """The deploy config, with the rule files it loads in compose, passes promtool."""
    config = yaml.safe_load(CONFIG.read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    config["rule_files"] = [str(RULES / "*.yml")]  # where compose mounts them, here
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    out = run(tool("promtool"), "check", "config", str(copy))
    assert "SUCCESS" in out and "rules found" in out


def test_promtool_checks_the_rules() -> None:
    rules = sorted(str(path) for path in RULES.glob("*.yml"))
    assert rules
    assert "SUCCESS" in run(tool("promtool"), "check", "rules", *rules)


def test_prometheus_scrapes_every_service_at_its_port() -> None:
    """One job per service, named after it, on the service's default port."""
    defaults = CommonSettings()
    targets: dict[str, list[str]] = {}
    for job in yaml.safe_load(CONFIG.read_text())["scrape_configs"]:
        found = [t for s in job.get("static_configs", []) for t in s["targets"]]
        found += [f"{n}:{s['port']}" for s in job.get("dns_sd_configs", []) for n in s["names"]]
        targets[job["job_name"]] = found
    for service in SERVICES:
        assert targets[service] == [f"{service}:{getattr(defaults, f'{service}_port')}"]


def compose_validator() -> list[str] | None:
    """`docker compose` where it works, else Debian's docker-compose, else None."""
    docker = shutil.which("docker")
    plugin = [docker, "compose"] if docker else []
    if plugin and subprocess.run([*plugin, "version"], capture_output=True).returncode == 0:
        return plugin
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def structure_problems(file: dict[str, Any]) -> list[str]:
    """What the schema check finds wrong where no compose tool is installed."""
    allowed_top = {"services", "volumes", "networks", "secrets", "configs", "name"}
    problems = [f"top-level {k}" for k in file if k not in allowed_top and not k.startswith("x-")]
    for name, service in file["services"].items():
        problems += [f"{name}.{k}" for k in service if k not in SERVICE_KEYS]
        if "image" not in service and "build" not in service:
            problems.append(f"{name}: neither image nor build")
        for dependency in service.get("depends_on", {}):
            if dependency not in file["services"]:
                problems.append(f"{name} depends on unknown {dependency}")
        for secret in service.get("secrets", []):
            if secret not in file.get("secrets", {}):
                problems.append(f"{name} uses unknown secret {secret}")
    return problems


def test_compose_file_is_valid() -> None:
    """docker compose (or docker-compose) reads it with the secrets of `make env` set."""
    assert structure_problems(compose()) == []
    validator = compose_validator()
    assert validator is not None, (
        "no Docker Compose to validate docker-compose.yml: install Debian's docker-compose "
        "(`apt-get install --no-install-recommends docker-compose`; .ci/run does)"
    )
    env = {**os.environ, **{name: "x" for name in SECRETS}}
    run(*validator, "-f", str(COMPOSE), "config", "-q", env=env)


def test_compose_refuses_to_run_without_make_env(tmp_path: Path) -> None:
    """Without .env the required secrets are missing, and compose says to run `make env`."""
    validator = compose_validator()
    assert validator is not None
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    empty = tmp_path / "empty.env"
    empty.write_text("")
    done = subprocess.run(
        [*validator, "-f", str(COMPOSE), "--env-file", str(empty), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode != 0 and "run make env" in done.stdout + done.stderr


def test_compose_runs_the_commands_the_tests_run() -> None:
    """Each service is `python -m services.<name>`, as tests/stack.py starts it."""
    services = compose()["services"]
    huddle = {name for name, s in services.items() if "build" in s}
    assert huddle == set(SERVICES)
    for name in SERVICES:
        assert services[name]["command"] == ["python", "-m", f"services.{name}"]
        assert services[name]["environment"]["HUDDLE_HOST"] == "0.0.0.0"
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["gateway"]["deploy"]["replicas"] == 2


def test_compose_backends_and_tools() -> None:
    """RabbitMQ with management and a health check, Redis with AOF, the observability tools."""
    services = compose()["services"]
    assert "management" in services["rabbitmq"]["image"]
    assert "healthcheck" in services["rabbitmq"]
    assert "--appendonly yes" in " ".join(services["redis"]["command"])
    grafana = [v.split(":")[0] for v in services["grafana"]["volumes"]]
    assert "./deploy/grafana/provisioning" in grafana and "./deploy/grafana/dashboards" in grafana
    prometheus = [v.split(":")[0] for v in services["prometheus"]["volumes"]]
    assert "./deploy/prometheus/rules" in prometheus
    nginx = [v.split(":")[0] for v in services["nginx"]["volumes"]]
    assert "./web" in nginx


def test_dockerfile_runs_as_non_root_with_a_health_check() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD ", dockerfile, re.MULTILINE)
    for copied in re.findall(r"^COPY\s+(\S+)", dockerfile, re.MULTILINE):
        assert (ROOT / copied).exists(), copied


def load_healthcheck() -> Any:
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy/healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_finds_the_service_and_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    check = load_healthcheck()
    assert check.service(b"python\0-m\0services.sync\0") == "sync"
    assert check.service(b"python\0-m\0services\0") is None
    assert check.port("sync") == 8003
    monkeypatch.setenv("HUDDLE_SYNC_PORT", "9003")
    assert check.port("sync") == 9003
    assert check.port(None) == 8000


def test_make_env_writes_secrets_once(tmp_path: Path) -> None:
    """`make env`: .env with every secret, the signing key and the admin password; kept after."""
    script = ROOT / "deploy" / "make-env.sh"
    run("sh", str(script), str(tmp_path))
    env = dict(
        line.split("=", 1)
        for line in (tmp_path / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(SECRETS) <= set(env)
    assert all(len(env[name]) >= 32 for name in SECRETS if name != "RABBITMQ_USER")
    secrets = tmp_path / "deploy" / "secrets"
    key = load_pem_private_key((secrets / "signing-key.pem").read_bytes(), None)
    assert isinstance(key, Ed25519PrivateKey)
    assert len((secrets / "admin-password").read_text().strip()) >= 32
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0
    before = {p: p.read_bytes() for p in (tmp_path / ".env", secrets / "admin-password")}
    run("sh", str(script), str(tmp_path))
    assert {p: p.read_bytes() for p in before} == before


def test_secrets_are_never_committed() -> None:
    paths = [".env", "deploy/secrets/signing-key.pem", "deploy/nginx/certs/privkey.pem"]
    ignored = run("git", "check-ignore", *paths).split()
    assert ignored == paths


def nginx_routes() -> list[tuple[str, str, str]]:
    """(modifier, path, upstream variable) of every `location` that proxies."""
    text = (NGINX / "huddle-routes.conf").read_text()
    found = re.findall(r"location\s+(=\s+|~\s+)?(\S+)\s*\{([^}]*)\}", text)
    routes = []
    for modifier, path, body in found:
        upstream = re.search(r"proxy_pass\s+\$(\w+);", body)
        routes.append((modifier.strip(), path, upstream.group(1) if upstream else ""))
    return routes


def upstream_for(path: str) -> str:
    """The upstream nginx sends `path` to: an exact match, else the longest prefix."""
    routes = nginx_routes()
    for modifier, location, upstream in routes:
        if modifier == "=" and location == path:
            return upstream
    prefixes = [(loc, up) for mod, loc, up in routes if mod == "" and path.startswith(loc)]
    return max(prefixes, key=lambda p: len(p[0]))[1]


def service_paths() -> dict[str, set[str]]:
    """Each service's HTTP paths, from the OpenAPI of the app `create_app()` builds."""
    paths = {}
    for service in SERVICES:
        app: FastAPI = importlib.import_module(f"services.{service}.app").create_app()
        paths[service] = set(app.openapi()["paths"]) - {"/healthz", "/readyz", "/metrics"}
    return paths


def test_nginx_sends_every_route_to_its_service() -> None:
    """Each HTTP route of each service is proxied to that service; health stays inside."""
    for service, paths in service_paths().items():
        assert paths, service
        for path in paths:
            assert upstream_for(path) == service, path
    assert upstream_for("/ws") == "gateway"
    assert ("~", "^/(metrics|healthz|readyz)$", "") in nginx_routes()


def test_nginx_sends_the_services_security_headers() -> None:
    """The static web client gets the CSP the services send (services/common/headers.py)."""
    text = (NGINX / "huddle-routes.conf").read_text()
    csp = re.search(r'add_header Content-Security-Policy "([^"]+)" always;', text)
    assert csp is not None and csp.group(1) == content_security_policy()
    for name, value in security_headers().items():
        assert f'add_header {name.decode()} "{value.decode()}" always;'.lower() in text.lower()


def test_nginx_with_tls_sends_the_services_hsts_once() -> None:
    """Behind TLS, one `Strict-Transport-Security`, with the value the services send."""
    text = (NGINX / "tls.conf.disabled").read_text()
    hsts = re.findall(r'add_header Strict-Transport-Security "([^"]+)" always;', text)
    assert hsts == [f"max-age={CommonSettings().hsts_max_age_s}; includeSubDomains"]
    assert "proxy_hide_header Strict-Transport-Security;" in text


def test_nginx_upstreams_are_the_services_ports() -> None:
    text = (NGINX / "huddle-routes.conf").read_text()
    ports = {s: getattr(CommonSettings(), f"{s}_port") for s in SERVICES}
    for service, port in ports.items():
        assert f"set ${service} http://{service}:{port};" in text


@pytest.mark.parametrize("tls", [False, True], ids=["http", "tls"])
def test_nginx_accepts_the_configuration(tmp_path: Path, tls: bool) -> None:
    """`nginx -t` on deploy/nginx as compose mounts it, and with TLS switched on."""
    checked = check(deploy_config(tmp_path, tls=tls))
    assert checked.returncode == 0, checked.stderr
