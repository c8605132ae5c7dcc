"""The browser client against embedded Huddle: log in, run commands, chat."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, Route, WebSocketRoute, expect

from tests.processes import ROOT

from .conftest import WAIT_MS

SCREENSHOT = ROOT / "docs" / "screenshot.png"

expect.set_options(timeout=WAIT_MS)


def log_in(page: Page, server_url: str, username: str, password: str) -> None:
    page.goto(server_url)
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-button")


def send(page: Page, text: str) -> None:
    box = page.locator("#message-input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def last_embed(page: Page) -> Locator:
    return page.locator("#message-list [data-testid=embed]").last


def test_commands_and_chat(page: Page, server_url: str) -> None:
    log_in(page, server_url, "demo", "demo")
    status = page.locator("#connection-status")
    expect(status).to_have_attribute("data-status", "connected")
    expect(status).to_have_text("connected")

    send(page, "/help")
    help_embed = last_embed(page)
    expect(help_embed).to_have_attribute("data-ok", "true")
    expect(help_embed).to_contain_text("/epic")
    expect(help_embed).to_contain_text("/project register <name>")

    send(page, "/project register demo")
    expect(last_embed(page)).to_contain_text("Project demo registered with #general")
    expect(page.locator("#channel-title")).to_have_text("general")
    expect(page.locator("#project-list [data-testid=channel-demo-general]")).to_have_class(
        re.compile(r"\bactive\b")
    )
    expect(page.locator("#state-badge")).to_have_text("IDLE")

    send(page, '/epic "User authentication"')
    epic = last_embed(page)
    expect(epic).to_have_attribute("data-ok", "true")
    expect(epic).to_contain_text("Epic E1 created: User authentication")
    expect(page.locator("#state-badge")).to_have_text("BACKLOG_READY")
    expect(page.locator("#message-list [data-testid=system][data-tone=state]")).to_contain_text(
        "IDLE → BACKLOG_READY"
    )
    expect(page.locator("#project-list [data-testid=project-demo]")).to_contain_text(
        "Backlog ready"
    )
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover highlight in the picture
    page.screenshot(path=str(SCREENSHOT))

    send(page, "/sprint start")
    refused = last_embed(page)
    expect(refused).to_have_attribute("data-ok", "false")
    expect(refused).to_contain_text("not allowed in state BACKLOG_READY")

    send(page, "hello from the browser")
    message = page.locator("#message-list [data-testid=message]").last
    expect(message).to_contain_text("hello from the browser")
    expect(message).to_contain_text("demo")

    # A reload keeps the session (sessionStorage) and reopens the channel with its history.
    page.reload()
    expect(status).to_have_attribute("data-status", "connected")
    expect(page.locator("#channel-title")).to_have_text("general")
    expect(page.locator("#message-list [data-testid=message]").last).to_contain_text(
        "hello from the browser"
    )
    expect(page.locator("#state-badge")).to_have_text("BACKLOG_READY")

    page.click("#logout-button")
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#app-view")).to_be_hidden()


def test_wrong_password_shows_error(page: Page, server_url: str) -> None:
    log_in(page, server_url, "demo", "not-the-password")
    error = page.locator("#login-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Invalid username or password")
    expect(page.locator("#app-view")).to_be_hidden()
    expect(page.locator("#login-button")).to_be_enabled()


def test_reconnects_and_rejoins_after_a_drop(page: Page, server_url: str) -> None:
    sockets: list[WebSocketRoute] = []

    def through(socket: WebSocketRoute) -> None:
        socket.connect_to_server()  # pass every frame through, but keep a handle to cut it
        sockets.append(socket)

    page.route_web_socket("**/ws", through)
    log_in(page, server_url, "demo", "demo")
    status = page.locator("#connection-status")
    expect(status).to_have_attribute("data-status", "connected")
    send(page, "/project register reconnect")
    expect(page.locator("#channel-title")).to_have_text("general")
    send(page, "before the drop")
    messages = page.locator("#message-list [data-testid=message]")
    expect(messages).to_have_count(1)

    sockets[-1].close(code=4000, reason="network blip")
    expect(status).to_have_attribute("data-status", "reconnecting")
    expect(status).to_contain_text(re.compile(r"reconnecting"))
    expect(status).to_have_attribute("data-status", "connected")
    assert len(sockets) == 2

    send(page, "after the drop")
    expect(messages).to_have_count(2)  # the rejoin's history did not duplicate the first one
    expect(messages.last).to_contain_text("after the drop")


def test_offline_then_back_online(page: Page, server_url: str) -> None:
    log_in(page, server_url, "demo", "demo")
    status = page.locator("#connection-status")
    expect(status).to_have_attribute("data-status", "connected")
    page.context.set_offline(True)
    expect(status).to_have_attribute("data-status", "offline")
    expect(status).to_have_text("offline")
    expect(page.locator("#composer-hint")).to_contain_text("Not connected")
    page.context.set_offline(False)
    expect(status).to_have_attribute("data-status", "connected")


STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def test_loads_under_a_strict_content_security_policy(page: Page, server_url: str) -> None:
    """No inline script or style: the page works with a CSP without 'unsafe-inline'.

    Only the page load is checked: Chromium treats a document fulfilled by a Playwright route
    as public and then refuses its requests to 127.0.0.1 (local network access checks).
    """
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    def with_csp(route: Route) -> None:
        response = route.fetch()
        route.fulfill(
            response=response,
            headers={**response.headers, "content-security-policy": STRICT_CSP},
        )

    page.route(f"{server_url}/", with_csp)
    page.goto(server_url)
    # The stylesheet applied (dark theme) and the module script runs (client-side validation).
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(30, 31, 34)", background
    page.click("#login-button")
    expect(page.locator("#login-error")).to_have_text("Enter your username and password.")
    assert not violations, violations
