"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import Harness


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    """An orchestrator on fresh in-process adapters."""
    running = await Harness.start()
    yield running
    await running.stop()
