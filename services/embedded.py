"""Embedded mode: the five services in one process on the in-process adapters."""

from __future__ import annotations

import logging
import sys

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.auth.app import AuthService
from services.auth.settings import AuthSettings
from services.common.adapters import Adapters, memory_adapters
from services.common.component import Component
from services.common.http import host_app, new_registry
from services.gateway.app import GatewayService
from services.gateway.settings import GatewaySettings
from services.metrics.app import MetricsService
from services.metrics.settings import MetricsSettings
from services.orchestrator.app import OrchestratorService
from services.orchestrator.settings import OrchestratorSettings
from services.sync.app import SyncService
from services.sync.settings import SyncSettings

log = logging.getLogger(__name__)


class EmbeddedSettings(GatewaySettings):
    """The one port of embedded mode (`HUDDLE_PORT`)."""

    port: int = 8000


class Announcer:
    """Prints where Huddle runs and how to log in, once everything has started."""

    name = "announcer"

    def __init__(self, url: str, auth: AuthSettings) -> None:
        from fastapi import APIRouter

        self.router = APIRouter()
        self._url = url
        self._auth = auth

    async def start(self, adapters: Adapters) -> None:
        login = (
            f"log in as {self._auth.demo_user} / {self._auth.demo_password.get_secret_value()}"
            if self._auth.is_development
            else "log in with your admin account"
        )
        sys.stderr.write(f"\n  Huddle is running at {self._url}  ({login})\n\n")
        sys.stderr.flush()

    async def stop(self) -> None:
        return None


def build_components(
    registry: CollectorRegistry,
    *,
    auth_settings: AuthSettings | None = None,
    gateway_settings: GatewaySettings | None = None,
) -> list[Component]:
    """The five services wired to verify tokens with the in-process keyring."""
    auth = AuthService(auth_settings or AuthSettings(), registry)
    return [
        auth,
        OrchestratorService(OrchestratorSettings(), registry, keys=auth.keyring),
        SyncService(SyncSettings(), registry, keys=auth.keyring),
        MetricsService(MetricsSettings(), registry, keys=auth.keyring),
        GatewayService(
            gateway_settings or GatewaySettings(), registry, keys=auth.keyring, public_auth_url=""
        ),
    ]


def create_app(
    settings: EmbeddedSettings | None = None, adapters: Adapters | None = None
) -> FastAPI:
    """Every service in one FastAPI app on in-process adapters."""
    settings = settings or EmbeddedSettings()
    auth_settings = AuthSettings()
    registry = new_registry()
    components = build_components(registry, auth_settings=auth_settings, gateway_settings=settings)
    components.append(Announcer(f"http://{settings.host}:{settings.port}", auth_settings))
    shared = adapters or memory_adapters(
        settings, SyncSettings().history_max_len, registry=registry
    )

    async def connect() -> Adapters:
        return shared

    return host_app(
        "Huddle (embedded)",
        components,
        registry,
        connect,
        static_dir=settings.web_dir,
        settings=settings,
    )
