"""CPU and memory of the machine the metrics service runs on, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class Host:
    """Reads /proc/stat and /proc/meminfo; CPU is the busy share since the previous read."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self._proc = proc
        self._last: tuple[int, int] | None = None

    def _cpu_times(self) -> tuple[int, int] | None:
        """(busy, total) jiffies of all CPUs since boot."""
        try:
            fields = (self._proc / "stat").read_text().splitlines()[0].split()
        except (OSError, IndexError):
            return None
        times = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq ...
        idle = times[3] + times[4]
        return sum(times) - idle, sum(times)

    def cpu_percent(self) -> float | None:
        """Percent of all cores busy since the previous call (None on the first, or off Linux)."""
        now = self._cpu_times()
        last, self._last = self._last, now
        if now is None or last is None or now[1] <= last[1]:
            return None
        return round(100 * (now[0] - last[0]) / (now[1] - last[1]), 2)

    def memory(self) -> dict[str, float | None]:
        """Used and total memory in MiB, and the used share in percent."""
        info: dict[str, int] = {}
        try:
            for line in (self._proc / "meminfo").read_text().splitlines():
                name, _, rest = line.partition(":")
                info[name] = int(rest.split()[0])  # kB
        except (OSError, ValueError, IndexError):
            return {"used_mb": None, "total_mb": None, "percent": None}
        total = info.get("MemTotal", 0)
        used = total - info.get("MemAvailable", info.get("MemFree", 0))
        return {
            "used_mb": round(used / 1024, 1),
            "total_mb": round(total / 1024, 1),
            "percent": round(100 * used / total, 2) if total else None,
        }

    def read(self) -> dict[str, Any]:
        """`cpu` and `memory` as `/api/performance` reports them."""
        return {
            "cpu": {"percent": self.cpu_percent(), "cores": os.cpu_count()},
            "memory": self.memory(),
        }
