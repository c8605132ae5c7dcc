"""A real Prometheus scrapes the local stack after a short workload.

The rule for "returns data": a dashboard expression must return at least one finite value. An
alert expression is empty while all is well (`up == 0`), so it passes when it returns data or
when each of its vector selectors is present: it returns data, or, when its matchers pick
values the workload did not produce (`status=~"5.."`), its metric returns data with every
label the matchers test. Docs: docs/operations.md, "How the dashboards and alerts are tested".
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.common.topology import COMMANDS, Topology
from tests.client import Client, login
from tests.flows import prepared_sprint, review
from tests.observability.nginx import running_nginx
from tests.observability.prometheus import RULES, PrometheusApi, running_prometheus
from tests.observability.promql import matched_labels, metric_name, selectors
from tests.processes import ROOT
from tests.services_env import Backends
from tests.stack import SERVICES, Stack, run_stack

DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
# Metrics Prometheus makes itself, not a service.
SYNTHETIC = frozenset({"up"})
# Scraped every half second; agent phases long enough for several scrapes to see them move.
SCRAPE_S = 0.5
FAST = {
    "HUDDLE_SCRIPTED_PHASE_S": "0.3",
    "HUDDLE_QUEUE_POLL_S": "0.5",
    "HUDDLE_PERFORMANCE_SAMPLE_S": "0.5",
    "HUDDLE_REDIS_PROBE_S": "0.5",
}


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, expr) of every panel target of every dashboard."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.stem}: {panel['title']}", target["expr"]))
    return found


def alert_expressions() -> list[tuple[str, str]]:
    """(alert, expr) of every alert rule."""
    found = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found.append((rule["alert"], rule["expr"]))
    return found


@dataclass(frozen=True)
class Observed:
    stack: Stack
    prometheus: PrometheusApi
    token: str


async def dead_letter(backends: Backends, namespace: str) -> None:
    """A command the orchestrator can never read: it ends in the dead-letter queue."""
    connection = await aio_pika.connect(backends.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(Topology(namespace).exchange(COMMANDS))
        await exchange.publish(aio_pika.Message(b"not a command"), "cmd.command")


async def workload(stack: Stack, backends: Backends) -> str:
    """A whole sprint seen by two sockets, a bad frame, a resume, a dead letter; the token."""
    token = await login(stack.url("auth"))
    alice = await Client.connect(stack.ws_url, token)
    bob = await Client.connect(stack.ws_url, token)
    try:
        project = await prepared_sprint(alice, bob, f"observed-{uuid.uuid4().hex[:6]}")
        started = await alice.command("/sprint start", project)
        assert started["data"]["ok"], started
        # Commands all along the sprint, so that rates see them on many scrapes. (Any answer
        # will do: under load a command_result can overtake its command_received.)
        state = {"command": "/state", "project_id": project, "channel": "general"}
        while not any(review(project)(frame) for frame in bob.frames):
            ref = await alice.send("command", state)
            await alice.wait_for(lambda f, ref=ref: f.get("ref") == ref)  # type: ignore[misc]
            await asyncio.sleep(SCRAPE_S / 2)
        ref = await alice.send("no_such_event")
        await alice.wait_for(lambda f: f.get("ref") == ref and f["event"] == "error")
        await bob.reconnect()
    finally:
        await alice.close()
        await bob.close()
    await dead_letter(backends, stack.namespace)
    return token


def wait_until(check: Callable[[], list[Any]], what: str, timeout_s: float = 60) -> None:
    """Poll `check()` (a list of what is still missing) until it is empty."""
    deadline = time.monotonic() + timeout_s
    while missing := check():
        assert time.monotonic() < deadline, f"{what} still missing: {missing}"
        time.sleep(1)


@pytest.fixture(scope="module")
def observed(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """The stack under a workload, scraped every second by Prometheus."""
    logs = tmp_path_factory.mktemp("observed")
    with (
        run_stack(backends, logs, FAST) as stack,
        running_prometheus(stack.ports, logs, SCRAPE_S) as prometheus,
    ):
        # Scraped before the workload: every counter it moves has a value to grow from.
        wait_until(
            lambda: [s for s in SERVICES if not prometheus.has_data(f'up{{job="{s}"}} == 1')],
            "scraped services",
        )
        token = asyncio.run(workload(stack, backends))
        time.sleep(3 * SCRAPE_S)
        yield Observed(stack, prometheus, token)


def test_prometheus_scrapes_every_service(observed: Observed) -> None:
    """Every service is a healthy target of its job."""
    targets = observed.prometheus.get("targets")["activeTargets"]
    health = {t["labels"]["job"]: t["health"] for t in targets}
    assert {service: health.get(service) for service in SERVICES} == dict.fromkeys(SERVICES, "up")


def test_every_dashboard_expression_returns_data(observed: Observed) -> None:
    """Each panel of each Grafana dashboard has something to draw."""
    expressions = dashboard_expressions()
    assert len(expressions) > 30
    wait_until(
        lambda: [(w, e) for w, e in expressions if not observed.prometheus.has_data(e)],
        "dashboard data",
    )


def test_every_alert_expression_or_its_selectors_return_data(observed: Observed) -> None:
    """Each alert watches metrics that exist; Prometheus evaluates every rule without error."""
    alerts = alert_expressions()
    assert len(alerts) >= 10

    def missing() -> list[str]:
        gaps = []
        for alert, expr in alerts:
            if observed.prometheus.query(expr):
                continue
            gaps += [f"{alert}: {s}" for s in selectors(expr) if not present(observed, s)]
        return gaps

    wait_until(missing, "alert metrics")

    def rules() -> list[dict[str, Any]]:
        return [r for g in observed.prometheus.get("rules")["groups"] for r in g["rules"]]

    assert {r["name"] for r in rules()} == {alert for alert, _ in alerts}
    wait_until(lambda: [r["name"] for r in rules() if r["health"] != "ok"], "rule evaluation")


def present(observed: Observed, selector: str) -> bool:
    """The selector returns data, or its metric does, with every label its matchers test."""
    if observed.prometheus.query(selector):
        return True
    name = metric_name(selector)
    labels = matched_labels(selector)
    rows = observed.prometheus.query(f"group by ({', '.join(labels)}) ({name})")
    return any(all(label in row["metric"] for label in labels) for row in rows)


def test_the_dead_letter_is_seen_and_alerted(observed: Observed) -> None:
    """The workload's unreadable command shows in the dead queue and fires HuddleDeadLetters."""
    depth = 'huddle_bus_queue_messages{queue="dead"} >= 1'
    wait_until(lambda: [] if observed.prometheus.has_data(depth) else [depth], "dead letter")
    expr = dict(alert_expressions())["HuddleDeadLetters"]
    assert observed.prometheus.query(expr)
    rejected = 'huddle_bus_dead_lettered_total{queue="orchestrator.commands",reason="rejected"}'
    assert observed.prometheus.has_data(f"{rejected} >= 1")


def scraped_names(stack: Stack) -> set[str]:
    """Every sample name in every service's /metrics."""
    names: set[str] = set()
    for service in SERVICES:
        text = httpx.get(f"{stack.url(service)}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            names.update(sample.name for sample in family.samples)
    return names


def test_dashboard_metrics_exist_in_some_service(observed: Observed) -> None:
    """Every metric a dashboard names is in some service's /metrics (`up` is Prometheus's)."""
    exposed = scraped_names(observed.stack)
    named = {
        metric_name(selector)
        for _, expr in dashboard_expressions() + alert_expressions()
        for selector in selectors(expr)
    }
    assert named - SYNTHETIC - exposed == set()


def test_performance_api(observed: Observed) -> None:
    """`/api/performance` and its history answer with the documented shape, and need a token."""
    base = observed.stack.url("metrics")
    headers = {"Authorization": f"Bearer {observed.token}"}
    assert httpx.get(f"{base}/api/performance", timeout=5).status_code == 401
    current = httpx.get(f"{base}/api/performance", headers=headers, timeout=5).json()
    assert current["websocket_connections"] == 0  # the workload's sockets are closed
    assert current["gateways"] == 1
    assert current["response_time_ms"]["samples"] > 0
    assert current["agent_performance"]["QAAgent"]["completed"] >= 3
    assert current["queues"]["dead"]["messages"] >= 1
    history = httpx.get(
        f"{base}/api/performance/history", params={"minutes": 5}, headers=headers, timeout=5
    ).json()
    assert history["interval_s"] == 0.5 and history["minutes"] == 5
    assert len(history["samples"]) >= 2
    assert set(history["samples"][-1]) < set(current)
    history_url = f"{base}/api/performance/history"
    longest = httpx.get(history_url, params={"minutes": 60}, headers=headers)  # the setting
    assert longest.status_code == 200 and longest.json()["minutes"] == 60
    too_long = httpx.get(history_url, params={"minutes": 61}, headers=headers)
    assert too_long.status_code == 422


def test_alert_names_are_unique() -> None:
    """Prometheus would load two rules of one name without a word; operations.md would lie."""
    names = [alert for alert, _ in alert_expressions()]
    assert len(names) == len(set(names))


async def test_nginx_in_front_of_the_stack(
    observed: Observed, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The web client, login, an API of each service and the WebSocket, all through nginx."""
    with running_nginx(observed.stack.ports, tmp_path_factory.mktemp("nginx")) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            page = await http.get("/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
            assert (await http.get("/config.json")).json()["ws_path"] == "/ws"
            assert (await http.get("/metrics")).status_code == 404
        token = await login(base)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
            for path in ("/auth/me", "/api/projects", "/api/agents", "/api/performance"):
                assert (await http.get(path)).status_code == 200, path
        client = await Client.connect(base.replace("http://", "ws://") + "/ws", token)
        try:
            ref = await client.send("ping")
            assert (await client.wait_for(lambda f: f.get("ref") == ref))["event"] == "pong"
            await client.send("command", {"command": "/help"})
            result = await client.wait_for(lambda f: f["event"] == "command_result")
            assert result["data"]["ok"]
        finally:
            await client.close()
