"""The browser client against the local stack: five processes, where auth, sync, orchestrator
and metrics answer on other origins than the gateway (from /config.json, allowed by CORS)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_history_paging import (
    Urls,
    history_requests,
    open_channel,
    scroll_back_to_the_first,
    seed,
)
from tests.processes import wait_ready
from tests.services_env import Backends
from tests.stack import Stack, run_stack

from .test_browser import last_embed, log_in, send
from .test_client import new_project


@pytest.fixture(scope="module")
def stack(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A short backlog notice, read often: what a busy deployment tells its users, in seconds.
    env = {"HUDDLE_BACKLOG_NOTICE": "3", "HUDDLE_BACKLOG_POLL_S": "0.1"}
    with run_stack(backends, tmp_path_factory.mktemp("stack-browser"), env) as running_stack:
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


def origin(url: str) -> str:
    return "/".join(url.split("/")[:3])


def test_dashboard_reads_the_orchestrator_and_metrics_across_origins(
    page: Page, stack: Stack
) -> None:
    """Project cards, the sprint board (orchestrator REST) and metrics (metrics service)."""
    config = page.request.get(f"{stack.url('gateway')}/config.json").json()
    assert config["orchestrator_url"] == stack.url("orchestrator")
    assert config["metrics_url"] == stack.url("metrics")
    assert config["sync_url"] == stack.url("sync")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    new_project(page, stack.url("gateway"), "stack-board")
    send(page, '/epic "Checkout flow"')
    expect(last_embed(page)).to_contain_text("Epic E1 created: Checkout flow")
    expect(page.locator("#message-list [data-testid=agent-message]").last).to_contain_text(
        "Proposed"
    )
    page.click("#view-toggle")
    expect(page.locator("#project-cards [data-testid=project-card-stack-board]")).to_be_visible()
    board = page.locator("#sprint-board")
    expect(board).to_have_attribute("data-status", "ready")
    expect(board.locator(".board-card[data-entity-type=story]").first).to_be_visible()
    expect(page.locator("#metrics [data-testid=metric-commands] canvas")).to_be_visible()
    expect(page.locator("#metrics [data-testid=metric-latency]")).to_contain_text("Latency")
    expect(page.locator("#metrics [data-testid=metrics-unavailable]")).to_have_count(0)
    origins = {origin(url) for url in asked if "/api/" in url}
    assert stack.url("orchestrator") in origins, asked
    assert stack.url("metrics") in origins, asked
    assert stack.url("gateway") not in origins, "no API is asked of the gateway"


def test_older_history_pages_come_from_the_sync_service(page: Page, stack: Stack) -> None:
    """Scrolling up in a channel of 130 messages pages back through sync's history API."""
    urls = Urls(stack.url("gateway"), stack.url("auth"), stack.url("sync"))
    stored = seed(urls, "stack-history", 130)
    requests = history_requests(page)
    open_channel(page, stack.url("gateway"), "stack-history", stored[-1])
    scroll_back_to_the_first(page, stored)
    befores = [url for url in requests if "before=" in url]
    assert len(befores) == 2, requests  # 80 older: 50 + 30
    assert all(url.startswith(f"{stack.url('sync')}/api/messages/") for url in befores)


def test_a_command_behind_a_long_queue_says_so(page: Page, stack: Stack) -> None:
    """With the orchestrator down, commands wait in its queue: each says how long it has
    waited, and past `HUDDLE_BACKLOG_NOTICE` the client says Huddle is busy and not to resend;
    once the orchestrator is back, every one is answered."""
    log_in(page, stack.url("gateway"), "demo", "demo")
    expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")
    pending = page.locator("#message-list [data-testid=command-pending]")
    stack.processes.kill("orchestrator")
    try:
        for _ in range(3):
            send(page, "/help")
        expect(pending).to_have_count(3)
        # Waiting a while, it says for how long (from 3 s on).
        expect(pending.first.locator(".msg-pending-wait")).to_have_text(re.compile(r"^\d+ s$"))
        time.sleep(0.5)  # the gateway reads the queue's depth every 0.1 s
        send(page, "/state")
        # At least the three /help wait (the client's own background commands may too).
        expect(pending.last).to_have_text(
            re.compile(
                r"Huddle is busy: ([3-9]|\d\d+) commands were waiting before yours\. "
                r"It will run; no need to send it again\."
            )
        )
    finally:
        restarted = stack.processes.start("orchestrator", "services.orchestrator")
        wait_ready(f"{stack.url('orchestrator')}/readyz", restarted)
    expect(pending).to_have_count(0, timeout=20_000)
    expect(last_embed(page)).to_contain_text("/state needs a project")  # answered, late
