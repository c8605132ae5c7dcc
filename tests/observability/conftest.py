"""Fixtures of the observability checks: instrumented adapters on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from services.common.adapters import Adapters, connect_adapters, memory_adapters
from services.common.runtime_settings import RuntimeSettings
from services.common.settings import CommonSettings
from tests.services_env import Backends


@pytest.fixture
def registry() -> CollectorRegistry:
    """A registry of the test's own."""
    return CollectorRegistry()


@pytest.fixture(params=["memory", "real"])
async def instrumented(
    request: pytest.FixtureRequest, backends: Backends, namespace: str, registry: CollectorRegistry
) -> AsyncIterator[Adapters]:
    """Adapters of one backend whose metrics go to `registry`."""
    settings = CommonSettings(
        namespace=namespace,
        amqp_url=backends.amqp_url,
        redis_url=backends.redis_url,
        delivery_limit=2,
    )
    if request.param == "memory":
        built = memory_adapters(settings, registry=registry)
    else:
        runtime = RuntimeSettings(redis_probe_s=0.1, drain_s=2)
        built = await connect_adapters(settings, registry=registry, runtime=runtime)
    yield built
    await built.close()
