"""The metrics service on in-process adapters: business metrics from a real sprint's events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.auth.keys import Keyring
from services.common.contracts import AGENTS
from services.metrics.app import MetricsService
from services.metrics.settings import MetricsSettings
from services.orchestrator.agents.scripted import ScriptedProvider
from tests.harness import Harness

PHASES = ("DESIGN", "TEST_RED", "CODE_GREEN", "REFACTOR", "COMMIT")


class Watched:
    """An orchestrator harness with a metrics service on the same in-process bus."""

    def __init__(self, harness: Harness, metrics: MetricsService, registry: CollectorRegistry):
        self.h = harness
        self.metrics = metrics
        self.registry = registry

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    async def settled(self) -> None:
        """Wait until the metrics service has taken every event the orchestrator published."""
        for _ in range(200):
            seen = sum(
                self.value("huddle_events_total", event=event)
                for event in {e.event for e in self.h.events}
            )
            if seen >= len(self.h.events):
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the metrics service fell behind")


async def watched(provider: ScriptedProvider) -> Watched:
    harness = await Harness.start(provider=provider)
    registry = CollectorRegistry()
    settings = MetricsSettings(performance_sample_s=0.1, queue_poll_s=0.1)
    metrics = MetricsService(settings, registry, keys=Keyring.generate())
    await metrics.start(harness.adapters)
    return Watched(harness, metrics, registry)


@pytest.fixture
async def happy() -> AsyncIterator[Watched]:
    w = await watched(ScriptedProvider(phase_s=0, failure_rate=0, ticks=2))
    yield w
    await w.metrics.stop()
    await w.h.stop()


async def sprint_started(h: Harness, name: str, stories: str = "") -> str:
    assert (await h.command(f"/project register {name}")).ok
    assert (await h.command("/project mode autonomous", name)).ok
    assert (await h.command('/epic "User login"', name)).ok
    await h.wait_for(lambda e: e.event == "agent_response" and "Proposed" in e.data.message)
    assert (await h.command(f"/approve {stories}".strip(), name)).ok
    assert (await h.command(f"/sprint plan {stories}".strip(), name)).ok
    assert (await h.command("/sprint start", name)).ok
    return name


async def test_a_sprint_is_counted_start_to_review(happy: Watched) -> None:
    """Sprints, transitions, every agent's task phases with their durations, commands."""
    await sprint_started(happy.h, "counted")
    await happy.h.wait_for(
        lambda e: e.event == "state_change" and e.data.new_state == "SPRINT_REVIEW"
    )
    await happy.settled()
    v = happy.value
    assert v("huddle_sprints_started_total") == 1
    assert v("huddle_sprints_completed_total") == 1
    assert v("huddle_sprint_duration_seconds_count") == 1
    assert v(
        "huddle_state_transitions_total", old_state="SPRINT_PLANNED", new_state="SPRINT_ACTIVE"
    )
    # Three tasks, five phases each, plus the DesignAgent's story proposal; the code phases
    # go to the CodeAgent, or to the DataAgent for data work.
    for phase in PHASES:
        expected = 3 + (phase == "DESIGN")
        done = [{"agent": agent, "phase": phase, "outcome": "done"} for agent in AGENTS]
        assert sum(v("huddle_agent_tasks_total", **labels) for labels in done) == expected
        timed = sum(v("huddle_agent_task_duration_seconds_count", **labels) for labels in done)
        assert timed == expected
    for agent in AGENTS:
        assert v("huddle_agent_tasks_running", agent=agent) == 0
    assert v("huddle_commands_total", command="/sprint start", outcome="ok") == 1
    assert v("huddle_command_latency_seconds_count", command="/sprint start") == 1
    assert v("huddle_notifications_total", type="success") >= 3
    assert v("huddle_entity_changes_total", entity_type="task", source="orchestrator") > 0
    assert v("huddle_agent_responses_total", agent="QAAgent") >= 3
    report = happy.metrics.agents.performance()
    assert report["CodeAgent"]["completed"] + report["DataAgent"]["completed"] == 9
    assert report["QAAgent"]["completed"] == 3
    assert report["QAAgent"]["success_rate"] == 1.0
    assert report["QAAgent"]["avg_duration_s"] is not None


async def test_failed_attempts_and_a_block_are_counted() -> None:
    """Two failed attempts end as `failed`, the third as `blocked`; nothing is left running."""
    w = await watched(ScriptedProvider(phase_s=0, failure_rate=1.0, ticks=1))
    try:
        await sprint_started(w.h, "flaky", "S1")
        await w.h.wait_for(lambda e: e.event == "notification" and "is blocked" in e.data.title)
        await w.settled()
        labels = {"agent": "DesignAgent", "phase": "DESIGN"}
        assert w.value("huddle_agent_tasks_total", **labels, outcome="failed") == 2
        assert w.value("huddle_agent_tasks_total", **labels, outcome="blocked") == 1
        assert w.value("huddle_agent_tasks_running", agent="DesignAgent") == 0
        report = w.metrics.agents.performance()["DesignAgent"]
        assert (report["completed"], report["failed"]) == (1, 3)  # the proposal, the attempts
    finally:
        await w.metrics.stop()
        await w.h.stop()


def check_sample(sample: dict[str, Any]) -> None:
    """The figures every sample has, with their types."""
    assert isinstance(sample["timestamp"], float)
    assert set(sample["cpu"]) == {"percent", "cores"}
    assert set(sample["memory"]) == {"used_mb", "total_mb", "percent"}
    assert set(sample["response_time_ms"]) == {"p50", "p95", "p99", "samples"}
    for key in ("commands_per_second", "websocket_connections", "gateways", "agents_running"):
        assert isinstance(sample[key], int | float), key
    assert isinstance(sample["queue_backlog"], int)
    assert isinstance(sample["dead_letters"], int)


async def test_performance_snapshot_and_history(happy: Watched) -> None:
    """`/api/performance` figures and the ring buffer behind `/api/performance/history`."""
    await happy.h.command("/project register perf")
    await happy.h.adapters.sessions.heartbeat("gw1", 30)
    await happy.h.adapters.sessions.open("u1", "s1", "gw1", 5)
    await asyncio.sleep(0.35)  # a few samples
    current = await happy.metrics.performance.current()
    check_sample(current)
    assert current["websocket_connections"] == 1 and current["gateways"] == 1
    assert current["response_time_ms"]["samples"] >= 1
    assert current["response_time_ms"]["p50"] is not None
    assert current["commands_per_second"] > 0
    assert set(current["agent_performance"]) == set(AGENTS)
    assert {"orchestrator.commands", "dead"} <= set(current["queues"])
    assert current["window_s"] == 60
    history = happy.metrics.performance.history(5)
    assert history["interval_s"] == 0.1 and history["minutes"] == 5
    assert len(history["samples"]) >= 2
    for sample in history["samples"]:
        check_sample(sample)
    stamps = [s["timestamp"] for s in history["samples"]]
    assert stamps == sorted(stamps)
    assert happy.value("huddle_websocket_connections") == 1
    assert happy.value("huddle_bus_queue_consumers", queue="metrics.events") == 1
