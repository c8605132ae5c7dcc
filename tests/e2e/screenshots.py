"""docs/screenshots/{chat,dashboard,phone}.png from a real run: `make screenshots`.

Starts embedded Huddle on a free port, drives a session in headless Chromium (a project, an
epic, a sprint with agents at work, a markdown message) and takes the pictures.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.processes import ROOT, free_port, wait_ready

OUT = ROOT / "docs" / "screenshots"


def send(page: Page, text: str) -> None:
    box = page.locator("#message-input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def log_in(page: Page, url: str) -> None:
    page.goto(url)
    page.fill("#username", "demo")
    page.fill("#password", "demo")
    page.click("#login-button")
    expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")


def main() -> None:
    port = free_port()
    env = {
        **os.environ,
        "HUDDLE_PORT": str(port),
        "HUDDLE_ENV": "development",
        "HUDDLE_SCRIPTED_PHASE_S": "1.5",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "services"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    OUT.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=15_000)
    try:
        wait_ready(f"{url}/readyz", server, timeout_s=30)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            log_in(page, url)
            send(page, "/project register shop")
            expect(page.locator("#channel-title")).to_have_text("general")
            send(page, '/epic "Checkout flow"')
            approve = page.locator("#message-list button", has_text="Approve all").first
            approve.click(force=True)
            approved = page.locator("#message-list [data-testid=embed]").last
            expect(approved).to_have_attribute("data-ok", "true")
            send(page, "Plan: **tests first**, then `checkout()`; spec at https://example.com/spec")
            send(page, "/sprint plan")
            expect(page.locator("#state-badge")).to_have_text("SPRINT_PLANNED")
            send(page, "/sprint start")
            working = page.locator("#agent-list [data-testid=agent-progress]")
            expect(working.first).to_be_visible()
            time.sleep(1.0)
            dismiss = page.locator("#toasts button[aria-label*=ismiss]")
            while dismiss.count():
                dismiss.first.click()
            page.mouse.move(0, 0)
            page.screenshot(path=str(OUT / "chat.png"))

            page.click("#view-toggle")
            expect(page.locator("#metrics [data-testid=metric-commands] canvas")).to_be_visible()
            expect(page.locator("#sprint-board .board-card").first).to_be_visible()
            time.sleep(0.5)
            while dismiss.count():
                dismiss.first.click()
            page.mouse.move(0, 0)
            page.screenshot(path=str(OUT / "dashboard.png"))

            phone = browser.new_page(viewport={"width": 375, "height": 740}, has_touch=True)
            log_in(phone, url)
            phone.click("#sidebar-toggle")
            phone.locator("#project-list [data-testid=channel-shop-general]").click()
            expect(phone.locator("#channel-title")).to_have_text("general")
            expect(phone.locator("#message-list [data-testid=message]").first).to_be_visible()
            time.sleep(0.5)
            phone.screenshot(path=str(OUT / "phone.png"))
            browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    for name in ("chat", "dashboard", "phone"):
        print(OUT / f"{name}.png")


if __name__ == "__main__":
    main()
