"""The last log lines of this process, for `/logs`."""

from __future__ import annotations

import logging
from collections import deque


class LogBuffer(logging.Handler):
    """Keeps the most recent formatted records in memory."""

    def __init__(self, size: int) -> None:
        super().__init__(level=logging.INFO)
        self.lines: deque[str] = deque(maxlen=size)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
