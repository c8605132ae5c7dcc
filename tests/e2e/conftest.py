"""Fixtures of the browser tests: an embedded Huddle on a free port, and Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.processes import ROOT, free_port, wait_ready

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
WAIT_MS = 10_000
# A second user (admin role, so every project is open to it), for what one user does not see
# of itself: another's typing, another's presence.
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-e2e-password"


@contextmanager
def embedded_huddle(log_dir: Path, extra_env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`python -m services` (embedded mode) on a free port; yields its URL, stops it after."""
    port = free_port()
    log_path = log_dir / "server.log"
    env = {
        **os.environ,
        "HUDDLE_PORT": str(port),
        "HUDDLE_ENV": "development",
        "HUDDLE_SCRIPTED_PHASE_S": "0.2",
        "HUDDLE_ADMIN_USER": ADMIN_USER,
        "HUDDLE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **(extra_env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(f"{url}/readyz", process, timeout_s=30)
        except AssertionError as exc:
            pytest.fail(f"{exc}\n--- server log ---\n{log_path.read_text()[-4000:]}")
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Embedded Huddle with the default settings, for the whole session."""
    with embedded_huddle(tmp_path_factory.mktemp("huddle")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from the system (never downloaded by Playwright).

    Module-scoped: sync Playwright runs an event loop on this thread while it lives, which
    async tests elsewhere must not meet.
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need the system Chromium "
            "(apt-get install chromium); `playwright install` is not used.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (own cookies and sessionStorage) at 1280x800; fails on script errors."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
