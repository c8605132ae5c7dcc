"""The benchmark report renders from figures (no benchmark runs here): table, ratios, charts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench import __main__ as bench_main
from tests.bench.clients import Outcome, percentile
from tests.bench.figures import BenchContext, Figure, Target
from tests.bench.report import record_load, reference_of, table, write_report
from tests.services_env import Backends

LATENCY = Target("floor", 2.5, "p50 at most 2.5x the bare chain")
SPEED = Target("floor", 0.4, "at least 40% of the bare chain")

FIGURES = [
    Figure("Command round trip", "→ command_result, 1 client, p50", "ms", 1.0, 0.5, target=LATENCY),
    Figure(
        "Command round trip", "→ command_result, 100 clients, p50", "ms", 3.0, 1.0, target=LATENCY
    ),
    Figure("Throughput", "saturation", "commands/s", 1000, 3000, better="higher", target=SPEED),
    Figure("Fan-out", "1,000 sockets, p50", "ms", 14.0, peer=40.0, note="20 rounds"),
    Figure("Memory", "per idle connection", "KB", 12.0),
]


def test_ratios_and_targets() -> None:
    met = [figure.meets_target() for figure in FIGURES]
    assert met == [True, False, False, None, None]
    assert [reference_of(figure) for figure in FIGURES] == ["floor", "floor", "floor", "peer", None]
    rows = table(FIGURES).splitlines()
    assert "| 2.00x floor | p50 at most 2.5x the bare chain | yes |" in rows[2]
    assert "| 3.00x floor |" in rows[3] and rows[3].endswith("| **no** |")
    assert "| 0.33x floor | at least 40% of the bare chain | **no** |" in rows[4]
    assert "| 0.35x peer | — | — |" in rows[5]
    assert rows[6].endswith("| 12.00 | — | — | — | — | — |")


def test_report_files(tmp_path: Path) -> None:
    samples = {"roundtrip/huddle/result/1": [1.0, 2.0, 3.0], "roundtrip/floor/result/1": [0.5, 1.0]}
    machine = {"cores": "2", "cpu": "test CPU"}
    path = write_report(
        FIGURES,
        tmp_path,
        samples=samples,
        machine_info=machine,
        quick=True,
        notes=["`x`: skipped"],
        methods={"roundtrip": "How the round trip is timed."},
    )
    text = path.read_text()
    assert "**Quick run**" in text and "## Method" in text and "## Rerun" in text
    assert "**roundtrip**: How the round trip is timed." in text
    assert "- **cpu**: test CPU" in text and "1 of 3 targets met" in text
    assert "- `x`: skipped" in text and "Fan-out: 1,000 sockets, p50: 20 rounds" in text
    assert "### Not met in this run, and why" in text
    assert "- **Command round trip**: → command_result, 100 clients, p50 (3.00x floor). " in text
    assert "- **Throughput**: saturation (0.33x floor). Every command costs" in text
    charts = sorted(p.name for p in (tmp_path / "benchmarks").glob("*.png"))
    assert "cdf-roundtrip-result-1.png" in charts and "command-round-trip-ms.png" in charts
    assert all(f"(benchmarks/{name})" in text for name in charts)
    results = json.loads((tmp_path / "benchmarks" / "results.json").read_text())
    assert [f["met"] for f in results["figures"]] == [True, False, False, None, None]
    assert results["figures"][0]["ratio"] == 2.0 and results["quick"] is True


def test_missing_benchmark_module_is_skipped(tmp_path: Path) -> None:
    ctx = BenchContext(Backends("amqp://unused", "redis://unused"), tmp_path, quick=True)
    methods: dict[str, str] = {}
    figures, notes = bench_main.run(ctx, ["not_written_yet"], methods)
    assert figures == [] and notes == ["`not_written_yet`: not written yet, skipped"]
    assert methods == {}


def test_outcomes_merge_and_percentiles() -> None:
    total = Outcome(received=[0.1], results=[0.2], sent=1, in_window=1)
    total.merge(Outcome(received=[0.3], results=[0.4], errors=["x"], sent=2, in_window=1))
    assert (total.sent, total.in_window, total.errors) == (3, 2, ["x"])
    assert percentile(total.results, 0.5) == 0.4 and percentile([], 0.99) == 0.0
    assert percentile(list(range(100)), 0.99) == 99 and percentile(list(range(100)), 0.5) == 50


def test_load_summary_lands_in_the_report(tmp_path: Path) -> None:
    report = write_report(FIGURES[:1], tmp_path)
    assert "Not run yet: `make load`." in report.read_text()
    record_load(tmp_path, "2000 sockets\nOK: zero errors, zero lost")
    text = report.read_text()
    assert "Not run yet" not in text and "2000 sockets\nOK: zero errors, zero lost" in text
    assert text.count("## Load test") == 1 and text.rstrip().endswith("localhost).")
    assert "OK: zero errors" in write_report(FIGURES[:1], tmp_path).read_text()  # kept
