"""Running one benchmark module alone: `python -m tests.bench.<module> [--quick]`."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.bench.figures import BenchContext, Figure
from tests.services_env import find_backends


def run_alone(measure: Callable[[BenchContext], list[Figure]]) -> None:
    """Measure against the local RabbitMQ and Redis and print every figure with its ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument("--work-dir", type=Path, help="keep the services' logs here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="huddle-bench-") as work:
        ctx = BenchContext(find_backends([]), args.work_dir or Path(work), quick=args.quick)
        for figure in measure(ctx):
            print(describe(figure))


def describe(figure: Figure) -> str:
    """One line: the value, the floor and peer beside it, the ratios and the target."""
    parts = [f"{figure.group} | {figure.name}: huddle {figure.huddle:,.2f} {figure.unit}"]
    for against in ("floor", "peer"):
        value = figure.floor if against == "floor" else figure.peer
        ratio = figure.ratio(against)
        if value is not None and ratio is not None:
            parts.append(f"{against} {value:,.2f} (x{ratio:.2f})")
    if figure.target is not None:
        parts.append(
            f"target {figure.target.text}: {'met' if figure.meets_target() else 'NOT met'}"
        )
    if figure.note:
        parts.append(figure.note)
    return "; ".join(parts)
