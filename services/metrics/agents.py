"""Agent tasks seen in the event stream: one run is one agent working one phase of one task."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.common.contracts import AGENTS

# Outcomes of a run and how the summary counts them.
DONE = "done"
FAILED = ("failed", "blocked")
# A scripted phase takes seconds; a real model's, minutes.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)


@dataclass
class _Run:
    task: str
    phase: str
    started: float


@dataclass
class _Summary:
    completed: int = 0
    failed: int = 0
    interrupted: int = 0
    completed_s: float = 0.0


class AgentTasks:
    """Follows `agent_status` and `agent_response` events and times each run.

    A run starts with the first `working` status of an agent for a (task, phase) and ends
    with the agent's response for it (`done`, or the `outcome` its result names, e.g.
    `failed`), or with a status that stops it: `blocked`, `paused`, or `idle`/`waiting`
    (`abandoned`); a `working` status for another (task, phase) ends it as `superseded`.
    """

    def __init__(self, registry: CollectorRegistry, max_open: int) -> None:
        self._max_open = max_open
        self._open: OrderedDict[tuple[str, str], _Run] = OrderedDict()
        self._summary = {agent: _Summary() for agent in AGENTS}
        self.tasks = Counter(
            "huddle_agent_tasks_total",
            "Agent task phases finished, by agent, phase and outcome",
            ["agent", "phase", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "huddle_agent_task_duration_seconds",
            "How long an agent worked on one phase of a task, by agent, phase and outcome",
            ["agent", "phase", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.running = Gauge(
            "huddle_agent_tasks_running",
            "Agent task phases in progress, by agent",
            ["agent"],
            registry=registry,
        )
        for agent in AGENTS:
            self.running.labels(agent).set(0)

    def on_status(
        self, project: str, agent: str, status: str, task: str | None, phase: str | None, at: float
    ) -> None:
        """An agent's status changed (or its progress moved)."""
        key = (project, agent)
        run = self._open.get(key)
        if status == "working" and task is not None and phase is not None:
            if run is not None and (run.task, run.phase) == (task, phase):
                return  # progress of the run in hand
            if run is not None:
                self._close(key, "superseded", at)
            self._open[key] = _Run(task, phase, at)
            self._summary.setdefault(agent, _Summary())
            self._count_running(agent)
            while len(self._open) > self._max_open:
                oldest, _ = self._open.popitem(last=False)
                self._count_running(oldest[1])
        elif run is not None and status != "working":
            outcome = status if status in ("blocked", "paused") else "abandoned"
            self._close(key, outcome, at)

    def on_response(
        self, project: str, agent: str, result: dict[str, Any] | None, at: float
    ) -> None:
        """An agent answered; a result naming a task and phase (or an epic) ends that run."""
        if not result:
            return
        key = (project, agent)
        run = self._open.get(key)
        if run is None:
            return
        names_run = result.get("task") == run.task and result.get("phase") == run.phase
        if names_run or result.get("epic_id") == run.task:
            self._close(key, str(result.get("outcome", DONE)), at)

    def _close(self, key: tuple[str, str], outcome: str, at: float) -> None:
        run = self._open.pop(key)
        agent = key[1]
        seconds = max(0.0, at - run.started)
        self.tasks.labels(agent, run.phase, outcome).inc()
        self.duration.labels(agent, run.phase, outcome).observe(seconds)
        summary = self._summary.setdefault(agent, _Summary())
        if outcome == DONE:
            summary.completed += 1
            summary.completed_s += seconds
        elif outcome in FAILED:
            summary.failed += 1
        else:
            summary.interrupted += 1
        self._count_running(agent)

    def _count_running(self, agent: str) -> None:
        self.running.labels(agent).set(sum(1 for _, a in self._open if a == agent))

    @property
    def running_now(self) -> int:
        """Runs in progress, every agent."""
        return len(self._open)

    def performance(self) -> dict[str, dict[str, Any]]:
        """Per agent: runs in progress, completed, failed, interrupted, success rate, mean time."""
        running: dict[str, int] = {}
        for _, agent in self._open:
            running[agent] = running.get(agent, 0) + 1
        report: dict[str, dict[str, Any]] = {}
        for agent, s in self._summary.items():
            finished = s.completed + s.failed
            report[agent] = {
                "running": running.get(agent, 0),
                "completed": s.completed,
                "failed": s.failed,
                "interrupted": s.interrupted,
                "success_rate": round(s.completed / finished, 4) if finished else None,
                "avg_duration_s": round(s.completed_s / s.completed, 3) if s.completed else None,
            }
        return report
