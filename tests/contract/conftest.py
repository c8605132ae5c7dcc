"""One adapter suite, two backends: the in-process adapters and RabbitMQ + Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.common.adapters import Adapters, connect_adapters, memory_adapters
from services.common.settings import CommonSettings
from tests.services_env import Backends


@pytest.fixture(params=["memory", "real"])
async def adapters(
    request: pytest.FixtureRequest, backends: Backends, namespace: str
) -> AsyncIterator[Adapters]:
    """The adapters of one backend, in a namespace of their own."""
    settings = CommonSettings(
        namespace=namespace,
        amqp_url=backends.amqp_url,
        redis_url=backends.redis_url,
        delivery_limit=3,
    )
    if request.param == "memory":
        built = memory_adapters(settings, history_max_len=5)
    else:
        built = await connect_adapters(settings, history_max_len=5)
    yield built
    await built.close()
