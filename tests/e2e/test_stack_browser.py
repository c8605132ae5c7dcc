"""The browser client against the local stack: five processes, auth on another origin (CORS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.services_env import Backends
from tests.stack import Stack, run_stack

from .test_browser import last_embed, log_in, send


@pytest.fixture(scope="module")
def stack(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(backends, tmp_path_factory.mktemp("stack-browser")) as running_stack:
        yield running_stack


def test_log_in_and_run_commands_through_the_stack(page: Page, stack: Stack) -> None:
    """The gateway serves the client; it logs in at the auth service and drives the workflow."""
    log_in(page, stack.url("gateway"), "demo", "demo")
    expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")
    send(page, "/help")
    expect(last_embed(page)).to_contain_text("/epic")
    send(page, "/project register stack-demo")
    expect(last_embed(page)).to_contain_text("Project stack-demo registered with #general")
    send(page, '/epic "User authentication"')
    expect(last_embed(page)).to_contain_text("Epic E1 created: User authentication")
    expect(page.locator("#state-badge")).to_have_text("BACKLOG_READY")
