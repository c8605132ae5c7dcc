"""A background task that does one thing every few seconds until it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    """Runs `action` every `interval_s` (the first time at once, or after one interval)."""

    def __init__(
        self, interval_s: float, action: Callable[[], Awaitable[object]], *, at_once: bool = True
    ) -> None:
        self._interval_s = interval_s
        self._action = action
        self._at_once = at_once
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        if not self._at_once:
            await asyncio.sleep(self._interval_s)
        while True:
            try:
                await self._action()
            except Exception:
                log.exception("periodic %s failed", getattr(self._action, "__qualname__", ""))
            await asyncio.sleep(self._interval_s)

    async def stop(self) -> None:
        """Cancel the task and wait for it to end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
