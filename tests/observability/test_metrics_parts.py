"""The metrics service's parts on their own: the command window, /proc, agent runs."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from services.metrics.agents import AgentTasks
from services.metrics.host import Host
from services.metrics.window import CommandWindow, percentile


def test_percentiles_are_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert (percentile(ordered, 50), percentile(ordered, 95), percentile(ordered, 99)) == (
        50.0,
        95.0,
        99.0,
    )
    assert percentile([7.0], 99) == 7.0


def test_window_forgets_old_commands() -> None:
    window = CommandWindow(window_s=10, max_samples=100, started=0)
    for n in range(10):
        window.add(at=n, latency_s=0.001 * (n + 1))
    assert window.latency_ms(now=10)["samples"] == 10
    assert window.rate(now=10) == 1.0
    latest = window.latency_ms(now=15)  # commands at 0..4 fell out
    assert latest["samples"] == 5 and latest["p50"] == 8.0
    assert window.latency_ms(now=100) == {"p50": None, "p95": None, "p99": None, "samples": 0}


def test_host_reads_cpu_share_and_memory(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    (tmp_path / "meminfo").write_text("MemTotal: 2048000 kB\nMemAvailable: 512000 kB\n")
    stat.write_text("cpu 100 0 100 800 0 0 0 0 0 0\n")
    host = Host(tmp_path)
    assert host.cpu_percent() is None  # nothing to compare with yet
    stat.write_text("cpu 150 0 150 900 0 0 0 0 0 0\n")  # 100 busy of 200
    assert host.cpu_percent() == 50.0
    assert host.memory() == {"used_mb": 1500.0, "total_mb": 2000.0, "percent": 75.0}


def test_host_without_proc_says_none(tmp_path: Path) -> None:
    host = Host(tmp_path / "missing")
    assert host.read()["cpu"]["percent"] is None
    assert host.read()["memory"]["used_mb"] is None


def test_agent_runs_end_by_response_status_or_a_new_phase() -> None:
    registry = CollectorRegistry()
    runs = AgentTasks(registry, max_open=2)

    def count(**labels: str) -> float:
        return registry.get_sample_value("huddle_agent_tasks_total", labels) or 0.0

    runs.on_status("p", "CodeAgent", "working", "T1", "CODE_GREEN", at=10)
    runs.on_status("p", "CodeAgent", "working", "T1", "CODE_GREEN", at=11)  # progress only
    runs.on_response("p", "CodeAgent", {"task": "T1", "phase": "CODE_GREEN"}, at=13)
    assert count(agent="CodeAgent", phase="CODE_GREEN", outcome="done") == 1
    runs.on_status("p", "CodeAgent", "working", "T1", "REFACTOR", at=14)
    runs.on_status("p", "CodeAgent", "working", "T2", "CODE_GREEN", at=15)
    assert count(agent="CodeAgent", phase="REFACTOR", outcome="superseded") == 1
    runs.on_status("p", "CodeAgent", "paused", "T2", "CODE_GREEN", at=16)
    assert count(agent="CodeAgent", phase="CODE_GREEN", outcome="paused") == 1
    runs.on_response("p", "CodeAgent", {"in_reply_to": "c1"}, at=17)  # a chat answer: no run
    for project in ("a", "b", "c"):  # beyond max_open the oldest run is forgotten
        runs.on_status(project, "QAAgent", "working", "T1", "TEST_RED", at=20)
    assert runs.running_now == 2
    assert registry.get_sample_value("huddle_agent_tasks_running", {"agent": "QAAgent"}) == 2
    report = runs.performance()["CodeAgent"]
    assert report == {
        "running": 0,
        "completed": 1,
        "failed": 0,
        "interrupted": 2,
        "success_rate": 1.0,
        "avg_duration_s": 3.0,
    }
