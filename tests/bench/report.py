"""Turn benchmark figures into docs/benchmarks.md, PNG charts and results.json.

Charts: one bar chart per (group, unit) of figures, Huddle beside its floor and peer; and one
latency CDF per raw series family in `BenchContext.samples`, whose keys read
`<benchmark>/<system>/<what>` (e.g. `roundtrip/huddle/result/100`): the systems of one
`<benchmark>/…/<what>` share a chart.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure as Figure_

from tests.bench.figures import Figure
from tests.services_env import Backends

METHOD = """\
Every figure is measured in one run beside the same measurement of a reference, so the
ratios hold on any machine even where the absolute numbers do not:

- **floor**: the bare chain with no business logic over the same RabbitMQ and Redis
  (`tests/bench/floor.py`): a `websockets` gateway process publishes each client frame to a
  RabbitMQ queue with publisher confirms and answers `command_received` after the confirm; a
  consumer process publishes the reply on Redis pub/sub; the gateway, subscribed, forwards it
  to the socket as `command_result`. Two processes, shaped like Huddle's gateway and
  orchestrator. Its queue is a transient classic one, as the issue's bare numbers were
  measured; Huddle's are durable quorum queues with persistent messages, which costs about
  0.2 to 0.4 ms per broker hop here. The round trip and throughput are also shown beside a
  **durable floor**, the same chain on a quorum queue with persistent messages (no target:
  it shows what durability alone costs). `BENCH_FLOOR_QUEUE=quorum make bench` makes the
  targeted floor durable too.
- **peer**: python-socketio with its Redis manager, where the issue names it (fan-out).
- **Huddle**: the five-process local stack (`tests/stack.py`: gateway, auth, orchestrator,
  sync, metrics) in a namespace of its own, with the limits that would refuse a benchmark
  raised by settings (named below, per benchmark).

Clients run in separate worker processes, every loop is bounded in count and in time,
everything is on loopback. The ratio is Huddle ÷ reference; a target is met when the ratio is
at or below (latency, memory) or at or above (throughput) its limit.
"""

RERUN = """\
```sh
make bench                                  # every benchmark, ~10 minutes; rewrites this file
.venv/bin/python -m tests.bench --quick     # a smoke run in about a minute
.venv/bin/python -m tests.bench --only roundtrip --only throughput
make load                                   # 2,000 sockets for 60 s: zero errors, zero lost
```
RabbitMQ and Redis come from `HUDDLE_AMQP_URL` / `HUDDLE_REDIS_URL` (default localhost).
"""


# One colour per system in every chart.
COLOURS = {"huddle": "tab:blue", "floor": "tab:orange", "peer": "tab:green"}


def machine(backends: Backends) -> dict[str, str]:
    """Cores, CPU model, RAM and the versions of Python, RabbitMQ and Redis."""
    info = {
        "cores": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "ram": _ram(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    info |= asyncio.run(_server_versions(backends))
    return info


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1) if found else "unknown"


def _ram() -> str:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return "unknown"
    found = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return f"{int(found.group(1)) / 1024 / 1024:.1f} GiB" if found else "unknown"


async def _server_versions(backends: Backends) -> dict[str, str]:
    import aio_pika
    from redis.asyncio import Redis

    versions = {"rabbitmq": "unknown", "redis": "unknown"}
    try:
        connection = await aio_pika.connect(backends.amqp_url)
        assert connection.transport is not None
        properties = connection.transport.connection.server_properties
        versions["rabbitmq"] = str(properties.get("version", "unknown"))
        await connection.close()
    except Exception:  # the report is still worth writing without it
        pass
    redis = Redis.from_url(backends.redis_url)
    try:
        versions["redis"] = str((await redis.info("server"))["redis_version"])
    except Exception:
        pass
    finally:
        await redis.aclose()
    return versions


def reference_of(figure: Figure) -> Literal["floor", "peer"] | None:
    """What the ratio is against: the target's reference, else the floor, else the peer."""
    if figure.target is not None:
        return figure.target.against
    if figure.floor is not None:
        return "floor"
    if figure.peer is not None:
        return "peer"
    return None


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def table(figures: Sequence[Figure]) -> str:
    """The Markdown table: Huddle, floor, peer, ratio, target and whether it is met."""
    lines = [
        "| figure | unit | Huddle | floor | peer | ratio | target | met? |",
        "|---|---|---:|---:|---:|---:|---|:-:|",
    ]
    for figure in figures:
        against = reference_of(figure)
        ratio = figure.ratio(against) if against else None
        ratio_text = "—" if ratio is None or against is None else f"{ratio:.2f}x {against}"
        met = {True: "yes", False: "**no**", None: "—"}[figure.meets_target()]
        target = figure.target.text if figure.target else "—"
        lines.append(
            f"| {figure.group}: {figure.name} | {figure.unit} | {_number(figure.huddle)} | "
            f"{_number(figure.floor)} | {_number(figure.peer)} | {ratio_text} | {target} | {met} |"
        )
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _save(fig: Figure_, ax: Axes, title: str, path: Path) -> Path:
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bar_charts(figures: Sequence[Figure], out_dir: Path) -> list[Path]:
    """One bar chart per (group, unit): Huddle beside its floor and peer, figure by figure."""
    by_chart: dict[tuple[str, str], list[Figure]] = defaultdict(list)
    for figure in figures:
        by_chart[(figure.group, figure.unit)].append(figure)
    paths = []
    for (group, unit), members in by_chart.items():
        series = [("Huddle", [f.huddle for f in members])]
        for label, attribute in (("floor", "floor"), ("peer", "peer")):
            values = [getattr(f, attribute) for f in members]
            if any(v is not None for v in values):
                series.append((label, [v or 0.0 for v in values]))
        fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(members) + 2), 4.2))
        width = 0.8 / len(series)
        for index, (label, values) in enumerate(series):
            xs = [i + (index - (len(series) - 1) / 2) * width for i in range(len(members))]
            ax.bar(xs, values, width, label=label, color=COLOURS[label.lower()])
        shown = [v for _, values in series for v in values if v > 0]
        if shown and max(shown) / min(shown) > 50:
            ax.set_yscale("log")  # p50s and p99s of very different sizes in one chart
        ax.set_xticks(range(len(members)), [f.name for f in members], rotation=30, ha="right")
        ax.set_ylabel(unit)
        paths.append(_save(fig, ax, group, out_dir / f"{_slug(group)}-{_slug(unit)}.png"))
    return paths


def cdf_charts(samples: Mapping[str, Sequence[float]], out_dir: Path) -> list[Path]:
    """One latency CDF per `<benchmark>/…/<what>` family, a line per system."""
    families: dict[tuple[str, str], dict[str, Sequence[float]]] = defaultdict(dict)
    for key, values in samples.items():
        parts = key.split("/")
        if len(parts) < 3 or not values:
            continue
        families[(parts[0], "/".join(parts[2:]))][parts[1]] = values
    paths = []
    for (bench, what), systems in sorted(families.items()):
        fig, ax = plt.subplots(figsize=(6.0, 4.0))
        for system, values in sorted(systems.items()):
            ordered = sorted(values)
            ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
            ax.plot(ordered, ys, label=system, color=COLOURS.get(system))
        ax.set_xscale("log")
        ax.set_xlabel("ms")
        ax.set_ylabel("fraction of samples")
        ax.grid(True, which="both", alpha=0.3)
        path = out_dir / f"cdf-{_slug(bench)}-{_slug(what)}.png"
        paths.append(_save(fig, ax, f"{bench}: {what}", path))
    return paths


def write_report(
    figures: Sequence[Figure],
    out: Path,
    *,
    samples: Mapping[str, Sequence[float]] | None = None,
    machine_info: Mapping[str, str] | None = None,
    quick: bool = False,
    notes: Sequence[str] = (),
    elapsed_s: float | None = None,
    methods: Mapping[str, str] | None = None,
) -> Path:
    """Write `<out>/benchmarks.md`, `<out>/benchmarks/*.png` and `results.json`; return the md."""
    charts_dir = out / "benchmarks"
    charts_dir.mkdir(parents=True, exist_ok=True)
    for old in charts_dir.glob("*.png"):
        old.unlink()  # charts of benchmarks that did not run this time would mislead
    charts = bar_charts(figures, charts_dir) + cdf_charts(samples or {}, charts_dir)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = {
        "generated": when,
        "quick": quick,
        "machine": dict(machine_info or {}),
        "notes": list(notes),
        "figures": [
            {**asdict(f), "ratio": f.ratio(r) if (r := reference_of(f)) else None, "met": m}
            for f in figures
            for m in [f.meets_target()]
        ],
    }
    (charts_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`tests/bench/`); do not edit by hand.",
        "",
    ]
    if quick:
        lines += [
            "> **Quick run** (`--quick`: small counts, a smoke test of the benchmarks): these "
            "numbers are not the measurement. Run `make bench` on a quiet machine for that.",
            "",
        ]
    took = f", took {elapsed_s:.0f} s" if elapsed_s is not None else ""
    lines += [f"Run of {when}{took}.", "", "## Method", "", METHOD]
    for name, text in (methods or {}).items():
        lines += [f"**{name}**: {text.strip()}", ""]
    lines += ["## Machine", ""]
    lines += [f"- **{k}**: {v}" for k, v in (machine_info or {}).items()] or ["- unknown"]
    met = sum(f.meets_target() is True for f in figures)
    missed = sum(f.meets_target() is False for f in figures)
    lines += ["", "## Figures", ""]
    lines += [
        f"{met} of {met + missed} targets met (the ratios are to a reference of the same run).",
        "",
        table(figures),
        "",
    ]
    lines += not_met_section(figures)
    notes_with_figures = [f"{f.group}: {f.name}: {f.note}" for f in figures if f.note]
    if notes or notes_with_figures:
        lines += ["Notes:", ""] + [f"- {n}" for n in [*notes, *notes_with_figures]] + [""]
    lines += ["## Charts", ""]
    lines += [f"![{p.stem}](benchmarks/{p.name})" for p in charts] + [""]
    lines += ["Raw figures: [benchmarks/results.json](benchmarks/results.json).", ""]
    lines += [load_section(charts_dir / LOAD_FILE), "", "## Rerun", "", RERUN]
    path = out / "benchmarks.md"
    path.write_text("\n".join(lines))
    return path


# Why a target of each group can be missed, from the measurements in docs/performance.md.
WHY_NOT_MET = {
    "Command round trip": (
        "A command's result crosses two durable broker hops (quorum queues, persistent "
        "messages, confirms) and wakes five processes (gateway, RabbitMQ, orchestrator, sync, "
        "Redis) where the floor crosses one transient hop and wakes two; `command_received` "
        "needs only the first hop and comes nearest its targets (its p99 at 100 clients is "
        "queueing, and moves with the run). The same figures beside the durable "
        "floor are in the table above."
    ),
    "Throughput": (
        "Every command costs CPU in four Huddle processes (gateway, orchestrator, sync, "
        "metrics) and RabbitMQ's bookkeeping for three quorum-queue deliveries: 1.8 to 3.3 ms "
        "of CPU per command in all, measured on two 2-core VMs (docs/performance.md), where "
        "the floor's chain spends its CPU in two processes and one transient hop."
    ),
    "Fan-out of one event": (
        "Huddle's figure stays within the bare broadcast's; python-socketio's own p50 moves "
        "a lot between runs (45 to 74 ms on the same machine in one day, its full GC passes "
        "at 1,000 clients), and with it this ratio."
    ),
}


def not_met_section(figures: Sequence[Figure]) -> list[str]:
    """The targets missed in this run, with why each group's can be missed (or nothing)."""
    missed = [f for f in figures if f.meets_target() is False]
    if not missed:
        return []
    lines = ["### Not met in this run, and why", ""]
    for group in dict.fromkeys(f.group for f in missed):
        names = "; ".join(
            f"{f.name} ({f.ratio(f.target.against) or 0:.2f}x {f.target.against})"
            for f in missed
            if f.group == group and f.target is not None
        )
        why = WHY_NOT_MET.get(group, "Not explained yet: see docs/performance.md.")
        lines += [f"- **{group}**: {names}. {why}"]
    return [*lines, "", "Where the time goes: [performance.md](performance.md).", ""]


LOAD_FILE = "load.txt"  # the last `make load`'s summary, beside the charts
_LOAD_START, _LOAD_END = "<!-- load -->", "<!-- /load -->"


def load_section(summary: Path) -> str:
    """The report's section on the last `make load` run (written by tests/bench/load.py)."""
    text = summary.read_text().strip() if summary.exists() else "Not run yet: `make load`."
    title = "## Load test (`make load`)"
    return "\n".join([_LOAD_START, title, "", LOAD_NOTE, "", "```", text, "```", _LOAD_END])


LOAD_NOTE = """2,000 sockets each sending a command and a chat message every 2 s offer 1,000
commands and 1,000 chat messages per second, each message fanned out to the 9 other members of
its channel: on 2 cores shared by the client processes, the five services, RabbitMQ and Redis
that is several times what the stack processes (its commands/s at saturation are under
Throughput above: 389 to 840 on 2-core VMs, depending on the VM and the day). The excess waits
in the durable queues and is answered late: the check is that nothing is lost or doubled once
the backlog has drained, and the latencies show the overload. The drain waits as long as answers
keep coming (`--stall`, 120 s without one ends it; `--drain`, 1,800 s in all), so a slower
machine's longer backlog is not counted as lost."""


def record_load(out: Path, summary: str) -> None:
    """Keep a `make load` summary and show it in an existing docs/benchmarks.md."""
    charts_dir = out / "benchmarks"
    charts_dir.mkdir(parents=True, exist_ok=True)
    (charts_dir / LOAD_FILE).write_text(summary + "\n")
    report = out / "benchmarks.md"
    if not report.exists():
        return
    text = report.read_text()
    start, end = text.find(_LOAD_START), text.find(_LOAD_END)
    if start >= 0 and end > start:
        section = load_section(charts_dir / LOAD_FILE)
        report.write_text(text[:start] + section + text[end + len(_LOAD_END) :])
