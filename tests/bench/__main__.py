"""`make bench`: run every benchmark against the local stack and write docs/benchmarks.md.

Usage: `python -m tests.bench [--quick] [--only MODULE] [--out DIR]`. Each module of
`MODULES` exposes `measure(ctx: BenchContext) -> list[Figure]`; one not written yet is
skipped with a note. A module may also have `METHOD`, a paragraph on how it measures, which
the report quotes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tests.bench.figures import BenchContext, Figure
from tests.bench.report import machine, write_report
from tests.services_env import find_backends

MODULES = ("roundtrip", "throughput", "fanout", "memory", "resume")
ROOT = Path(__file__).resolve().parents[2]


def run(
    ctx: BenchContext, modules: list[str], methods: dict[str, str] | None = None
) -> tuple[list[Figure], list[str]]:
    """Measure with each module in turn; return the figures and notes on what did not run.

    Each module's `METHOD` text, if any, goes into `methods` under the module's name.
    """
    figures: list[Figure] = []
    notes: list[str] = []
    for name in modules:
        try:
            module = importlib.import_module(f"tests.bench.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"tests.bench.{name}":
                raise
            notes.append(f"`{name}`: not written yet, skipped")
            print(f"- {name}: not written yet, skipped", flush=True)
            continue
        if methods is not None and isinstance(getattr(module, "METHOD", None), str):
            methods[name] = module.METHOD
        print(f"- {name}: measuring", flush=True)
        started = time.monotonic()
        try:
            measured = module.measure(ctx)
        except Exception as error:  # one failing benchmark must not hide the others' figures
            traceback.print_exc()
            notes.append(f"`{name}` failed: {error!r}")
            continue
        figures += measured
        elapsed = time.monotonic() - started
        print(f"  {name}: {len(measured)} figures in {elapsed:.0f} s", flush=True)
        for figure in measured:
            reference = "" if figure.floor is None else f", floor {figure.floor:.2f}"
            print(f"    {figure.name}: huddle {figure.huddle:.2f}{reference}", flush=True)
    return figures, notes


def main() -> None:
    """Parse arguments, run the benchmarks, write the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--only", action="append", choices=MODULES, help="run only this module")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the report goes")
    args = parser.parse_args()
    backends = find_backends([])
    with tempfile.TemporaryDirectory(prefix="huddle-bench-") as scratch:
        ctx = BenchContext(backends, Path(scratch), quick=args.quick)
        started = time.monotonic()
        methods: dict[str, str] = {}
        figures, notes = run(ctx, args.only or list(MODULES), methods)
        elapsed = time.monotonic() - started
        report = write_report(
            figures,
            args.out,
            samples=ctx.samples,
            machine_info=machine(backends),
            quick=args.quick,
            notes=notes,
            elapsed_s=elapsed,
            methods=methods,
        )
    print(f"wrote {report} ({len(figures)} figures, {elapsed:.0f} s)")
    if any("failed" in note for note in notes):
        sys.exit(1)


if __name__ == "__main__":
    main()
