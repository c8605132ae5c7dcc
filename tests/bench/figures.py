"""What every benchmark returns: figures measured beside their floor or peer in the same run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tests.services_env import Backends

Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class Target:
    """A ratio Huddle must meet against a reference measured in the same run."""

    against: Literal["floor", "peer"]
    limit: float  # huddle / reference must be <= limit (lower is better) or >= limit (higher)
    text: str  # as the issue states it, e.g. "at most 2.5 times the bare chain"


@dataclass(frozen=True)
class Figure:
    """One measured quantity: Huddle's value beside the bare floor's and the peer's."""

    group: str  # a section of the report, e.g. "Command round trip"
    name: str  # e.g. "→ command_result, 1 client, p50"
    unit: str  # "ms", "commands/s", "KB", ...
    huddle: float
    floor: float | None = None  # the minimal chain over the same broker and Redis
    peer: float | None = None  # python-socketio + Redis manager, where the issue names it
    better: Better = "lower"
    target: Target | None = None
    note: str = ""

    def ratio(self, against: Literal["floor", "peer"]) -> float | None:
        """Huddle's value divided by the reference's, or None when it was not measured."""
        reference = self.floor if against == "floor" else self.peer
        if reference is None or reference == 0:
            return None
        return self.huddle / reference

    def meets_target(self) -> bool | None:
        """Whether the ratio is at or better than the target (None: no target or reference)."""
        if self.target is None:
            return None
        ratio = self.ratio(self.target.against)
        if ratio is None:
            return None
        if self.better == "lower":
            return ratio <= self.target.limit
        return ratio >= self.target.limit


@dataclass(frozen=True)
class BenchContext:
    """What a benchmark may use: the broker and Redis, a scratch directory, and its scale."""

    backends: Backends
    work_dir: Path  # logs and scratch files of this run
    quick: bool = False  # small counts, for a smoke run in seconds rather than minutes
    samples: dict[str, list[float]] = field(default_factory=dict)  # raw series for the charts
