"""One service as its own HTTP app: what every service's `create_app` shares."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from .adapters import Adapters, connect_adapters
from .component import Component
from .http import host_app, new_registry
from .settings import CommonSettings


def service_app(
    title: str,
    settings: CommonSettings,
    build: Callable[[CollectorRegistry], Component],
    adapters: Adapters | None = None,
    *,
    history_max_len: int = 10_000,
) -> FastAPI:
    """Host the component `build` makes, on adapters given (tests) or connected at start-up.

    The component gets the app's registry; adapters connected here are closed at shutdown,
    adapters given are left to whoever gave them.
    """
    registry = new_registry()
    component = build(registry)

    async def connect() -> Adapters:
        return adapters or await connect_adapters(settings, history_max_len, registry=registry)

    return host_app(
        title,
        [component],
        registry,
        connect,
        close_adapters=adapters is None,
        cors_origins=settings.allowed_origins,
        settings=settings,
    )
