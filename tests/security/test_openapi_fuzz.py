"""Schemathesis against every service's OpenAPI document: no request gets a server error."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from services.auth.app import AuthService
from services.auth.keys import Keyring, access_claims
from services.auth.settings import AuthSettings
from services.common.adapters import Adapters, memory_adapters
from services.common.component import Component
from services.common.http import host_app, new_registry
from services.common.settings import CommonSettings
from services.gateway.app import GatewayService
from services.gateway.settings import GatewaySettings
from services.metrics.app import create_app as create_metrics
from services.orchestrator.agents.scripted import ScriptedProvider
from services.orchestrator.app import OrchestratorService
from services.orchestrator.settings import OrchestratorSettings
from services.sync.app import SyncService
from services.sync.settings import SyncSettings

KEYRING = Keyring.generate()
EXAMPLES_PER_MODE = 150


def _hosted(component: Callable[[Any], Component]) -> Callable[[], FastAPI]:
    def build() -> FastAPI:
        namespace = f"st-{uuid.uuid4().hex[:8]}"
        registry = new_registry()
        adapters = memory_adapters(CommonSettings(namespace=namespace))

        async def connect() -> Adapters:
            return adapters

        # Every example counts: no request limit, which would answer most of them 429.
        unlimited = CommonSettings(namespace=namespace, http_rate_limit_per_min=0)
        return host_app("svc", [component(registry)], registry, connect, settings=unlimited)

    return build


SERVICES: dict[str, Callable[[], FastAPI]] = {
    "auth": _hosted(lambda r: AuthService(AuthSettings(namespace="st"), r, keyring=KEYRING)),
    "orchestrator": _hosted(
        lambda r: OrchestratorService(
            OrchestratorSettings(namespace="st"),
            r,
            keys=KEYRING,
            provider=ScriptedProvider(phase_s=0.0, failure_rate=0.0, ticks=1),
        )
    ),
    "sync": _hosted(lambda r: SyncService(SyncSettings(namespace="st"), r, keys=KEYRING)),
    "gateway": _hosted(
        lambda r: GatewayService(
            GatewaySettings(namespace="st"), r, keys=KEYRING, public_auth_url=""
        )
    ),
    "metrics": lambda: create_metrics(
        adapters=memory_adapters(CommonSettings(namespace=f"st-{uuid.uuid4().hex[:8]}"))
    ),
}


def admin_token() -> str:
    return KEYRING.sign(
        access_claims(
            user_id="u-admin",
            username="root",
            roles=["admin", "member"],
            session_id="s-schemathesis",
            issuer="huddle-auth",
            audience="huddle",
            ttl_s=3600,
        )
    )


@pytest.fixture(params=sorted(SERVICES))
def service(request: pytest.FixtureRequest) -> Iterator[tuple[str, TestClient]]:
    with TestClient(SERVICES[request.param]()) as client:
        yield request.param, client


def _send(client: TestClient, case: Any, headers: dict[str, str]) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    body = kwargs.get("json")
    content = kwargs.get("data")
    return client.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers={k: str(v) for k, v in (kwargs.get("headers") or {}).items()},
        json=body,
        content=content if isinstance(content, (str, bytes)) else None,
    )


@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_gets_a_server_error(service: tuple[str, TestClient], mode: Any) -> None:
    """Valid and invalid requests, with and without an admin token: never a 5xx."""
    name, client = service
    document = client.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    token = {"Authorization": f"Bearer {admin_token()}"}

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=schema.as_strategy(generation_mode=mode))
    def one(case: Any) -> None:
        for headers in (token, {}):
            response = _send(client, case, headers)
            assert response.status_code < 500, (
                name,
                case.method,
                case.formatted_path,
                response.status_code,
                response.text[:300],
            )

    try:
        one()
    except Unsatisfiable:
        # Only an API without a single parameter or body has no invalid request to make.
        assert mode == GenerationMode.NEGATIVE and not _has_inputs(document), name


def _has_inputs(document: dict[str, Any]) -> bool:
    operations = [op for path in document["paths"].values() for op in path.values()]
    return any(op.get("parameters") or op.get("requestBody") for op in operations)
