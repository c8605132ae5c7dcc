"""The commands of the last minute: their rate and the percentiles of their latency."""

from __future__ import annotations

import math
from collections import deque


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile `p` (0-100) of an ascending, non-empty list."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class CommandWindow:
    """Command results seen in the last `window_s` seconds (at most `max_samples` of them)."""

    def __init__(self, window_s: float, max_samples: int, started: float) -> None:
        self.window_s = window_s
        self._started = started
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)

    def add(self, at: float, latency_s: float) -> None:
        """A command's result arrived at `at`, `latency_s` after the gateway took it."""
        self._samples.append((at, latency_s))

    def _prune(self, now: float) -> None:
        cutoff = now - self.window_s
        while self._samples and self._samples[0][0] < cutoff:
            self._samples.popleft()

    def rate(self, now: float) -> float:
        """Commands per second over the window (or since start, in the first window)."""
        self._prune(now)
        span = min(self.window_s, max(now - self._started, 1.0))
        return round(len(self._samples) / span, 3)

    def latency_ms(self, now: float) -> dict[str, float | int | None]:
        """p50, p95 and p99 of the window's latencies in milliseconds, and how many there were."""
        self._prune(now)
        ordered = sorted(latency for _, latency in self._samples)
        if not ordered:
            return {"p50": None, "p95": None, "p99": None, "samples": 0}
        return {
            **{f"p{p}": round(percentile(ordered, p) * 1000, 3) for p in (50, 95, 99)},
            "samples": len(ordered),
        }
