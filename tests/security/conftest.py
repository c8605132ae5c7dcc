"""Fixtures of the attack tests: an in-process Huddle per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.huddle import Huddle, running


@pytest.fixture(scope="module")
def huddle() -> Iterator[Huddle]:
    """Every service in one process, with the demo admin (demo / demo); shared by a module."""
    with running() as started:
        yield started
