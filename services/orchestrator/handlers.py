"""What command handlers are, and what they may ask of the running orchestrator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from services.common.contracts import UserInfo
from services.common.store import Entity

from .context import Context

# A handler gets the arguments and the command's project (None for project-less commands).
Handler = Callable[[Context, list[str], dict[str, Any] | None], Awaitable[None]]


class Runtime(Protocol):
    """What handlers may ask of the process they run in."""

    pool_size: int
    max_channels: int  # per project, #general included

    async def projects_of(self, user: UserInfo) -> list[Entity]:
        """Every project the user may see."""
        ...

    def status(self) -> dict[str, Any]:
        """System status for `/status`."""
        ...

    def recent_logs(self) -> list[str]:
        """The last log lines for `/logs`."""
        ...
