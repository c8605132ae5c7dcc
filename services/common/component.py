"""What a service is to the process that hosts it: routes, a start and a stop."""

from __future__ import annotations

from typing import Protocol

from fastapi import APIRouter

from .adapters import Adapters


class Component(Protocol):
    """One service's behaviour, hostable alone (`create_app`) or with the others (embedded)."""

    name: str
    router: APIRouter

    async def start(self, adapters: Adapters) -> None:
        """Wire the adapters and start consuming."""
        ...

    async def stop(self) -> None:
        """Release what `start` took; the host has already stopped consuming and drained."""
        ...
