"""JSON-lines logging with a correlation id (the command id) that follows a command."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any

import orjson

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, correlation id."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        cid = correlation_id.get()
        if cid is not None:
            entry["correlation_id"] = cid
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


# Library records that repeat what another line already says, at a level that pages someone.
# (logger, start of the message, words it must contain): each becomes a DEBUG record.
LIBRARY_NOISE = (
    # Every failed reconnect attempt; aio_pika.robust_connection logs the same one as a WARNING.
    ("aiormq.connection", "error when creating transport", ()),
    # The broker closed the connection (an ERROR, or a traceback of aiormq's reader): our own
    # "lost the connection to RabbitMQ" line says so, with the same reason.
    ("aiormq.connection", "Unexpected connection close from remote", ()),
    ("aiormq.connection", "Cancelling cause reader exited abnormally", ()),
    # aio-pika closing a channel whose connection or transport is already gone, while it
    # reconnects (ChannelInvalidStateError or RuntimeError, depending on the moment).
    ("aio_pika.tools", "Callback", ("RobustChannel._on_close",)),
)


class LibraryNoise(logging.Filter):
    """Turns the known noisy library records of `LIBRARY_NOISE` into DEBUG records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for name, start, words in LIBRARY_NOISE:
            noise = record.name == name and message.startswith(start)
            if noise and all(word in message for word in words):
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
                return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record to stderr as JSON lines; call once, from `__main__`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(LibraryNoise())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.Formatter.converter = time.gmtime


class ThrottledLog:
    """A logger that writes at most one record per interval and counts what it held back.

    For failures that repeat per frame during an outage: one line in a while, not thousands.
    """

    def __init__(self, logger: logging.Logger, interval_s: float = 5.0) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._last = float("-inf")
        self._held = 0

    def warning(self, message: str, *args: object) -> None:
        """Log a warning unless one was logged within the interval (then count it)."""
        now = time.monotonic()
        if now - self._last < self._interval_s:
            self._held += 1
            return
        held, self._held, self._last = self._held, 0, now
        if held:
            message += f" (and {held} more like it since the last such line)"
        self._logger.warning(message, *args)
