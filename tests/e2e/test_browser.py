"""The browser client against embedded Huddle: log in, run commands, chat."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import Browser, Locator, Page, Route, WebSocketRoute, expect

from .conftest import ADMIN_PASSWORD, ADMIN_USER, VIEWPORT, WAIT_MS

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


def in_new_project(page: Page, server_url: str, project: str) -> None:
    """Log in as demo and `/project register <project>`; wait until its #general is open."""
    log_in(page, server_url, "demo", "demo")
    expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")
    send(page, f"/project register {project}")
    expect(page.locator("#channel-title")).to_have_text("general")
    expect(page.locator("#channel-project")).to_have_text(project)


def propose_stories(page: Page) -> None:
    """`/epic "Checkout flow"`, then wait for the DesignAgent's proposed stories."""
    send(page, '/epic "Checkout flow"')
    expect(page.locator("#message-list [data-testid=agent-message]").last).to_contain_text(
        "Proposed"
    )


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


def test_a_session_the_socket_keeps_refusing_ends_at_the_login_form(
    page: Page, server_url: str
) -> None:
    """Closed 4401 again after fresh tokens: the session is over, so the login form says so
    (not a "Reconnect" banner that cannot help)."""
    refused: list[WebSocketRoute] = []

    def unauthenticated(socket: WebSocketRoute) -> None:
        refused.append(socket)
        socket.on_message(lambda message: socket.close(code=4401, reason="invalid token"))

    page.route_web_socket("**/ws", unauthenticated)
    log_in(page, server_url, "demo", "demo")
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#login-error")).to_have_text(
        "Your session has ended. Please log in again."
    )
    assert len(refused) == 3  # the first socket, then once per fresh token


def test_reconnects_and_rejoins_after_a_drop(page: Page, server_url: str) -> None:
    sockets: list[WebSocketRoute] = []

    def through(socket: WebSocketRoute) -> None:
        socket.connect_to_server()  # pass every frame through, but keep a handle to cut it
        sockets.append(socket)

    page.route_web_socket("**/ws", through)
    in_new_project(page, server_url, "reconnect")
    status = page.locator("#connection-status")
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


def test_the_api_viewer_loads_under_its_own_csp(page: Page, server_url: str) -> None:
    """`/docs` (FastAPI's Swagger UI page: a CDN script started by an inline one) runs and
    reads the OpenAPI document; the CDN is stood in for, as this machine has no internet."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    bundle = """
        window.SwaggerUIBundle = (config) => fetch(config.url)
          .then((response) => response.json())
          .then((doc) => { document.getElementById('swagger-ui').textContent = doc.info.title; });
        window.SwaggerUIBundle.presets = { apis: {} };
    """

    def cdn(route: Route) -> None:
        if route.request.url.endswith("swagger-ui-bundle.js"):
            route.fulfill(body=bundle, content_type="text/javascript")
        elif route.request.url.endswith(".css"):
            route.fulfill(body="", content_type="text/css")
        else:
            route.fulfill(status=404, body="")

    page.route("https://**/*", cdn)
    page.goto(f"{server_url}/docs")
    expect(page.locator("#swagger-ui")).to_have_text("Huddle (embedded)")
    assert not violations, violations


Frame = dict[str, Any]


class Relay:
    """Between the page and the real server: passes every frame on, records them, and lets the
    test inject server frames the embedded server does not send yet (agents, notifications).

    `agent_message` frames are answered here with `message_sent` instead of going on. While
    `refusing`, new sockets are closed at once (the server looks unreachable). `rewrite` may
    change a frame of the page on its way to the server.
    """

    def __init__(self) -> None:
        self.socket: WebSocketRoute | None = None
        self.server: WebSocketRoute | None = None
        self.from_page: list[Frame] = []
        self.from_server: list[Frame] = []
        self.connections: list[list[Frame]] = []  # what the page sent, per socket that got through
        self.refusing = False
        self.rewrite: Callable[[Frame], Frame] | None = None

    def route(self, socket: WebSocketRoute) -> None:
        if self.refusing:
            socket.close(code=1012, reason="server unreachable")
            return
        server = socket.connect_to_server()
        self.socket, self.server = socket, server
        sent: list[Frame] = []
        self.connections.append(sent)

        def page_sent(message: str | bytes) -> None:
            frame = json.loads(message)
            self.from_page.append(frame)
            sent.append(frame)
            if frame.get("event") == "agent_message":
                agent = {"agent_id": frame["data"]["agent_id"]}
                self.inject({"event": "message_sent", "data": agent, "ref": frame["id"]})
                return
            if self.rewrite is not None:
                message = json.dumps(self.rewrite(frame))
            server.send(message)

        def server_sent(message: str | bytes) -> None:
            self.from_server.append(json.loads(message))
            socket.send(message)

        socket.on_message(page_sent)
        server.on_message(server_sent)

    def inject(self, frame: Frame) -> None:
        assert self.socket is not None, "no socket yet"
        self.socket.send(json.dumps(frame))

    def drop(self, code: int = 4000, reason: str = "network blip") -> None:
        """Close the current socket on both sides, as a network failure or the server would."""
        assert self.socket is not None and self.server is not None, "no socket yet"
        self.socket.close(code=code, reason=reason)
        self.server.close()

    @staticmethod
    def wait_for(page: Page, frames: list[Frame], match: Callable[[Frame], bool]) -> Frame:
        """The first of `frames` that matches, waiting for it (Playwright runs the handlers)."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            for frame in frames:
                if match(frame):
                    return frame
            page.wait_for_timeout(50)
        raise AssertionError(f"no matching frame in {frames[-5:]}")


def command_frame(command: str, project_id: str) -> Callable[[Frame], bool]:
    def match(frame: Frame) -> bool:
        return frame.get("event") == "command" and frame.get("data") == {
            "command": command,
            "project_id": project_id,
            "channel": "general",
        }

    return match


def test_agents_panel_and_notifications(page: Page, server_url: str) -> None:
    """Agent status, agent answers with buttons, notifications and @mentions in the client.

    The embedded server does not emit agent events yet: they are injected into the real socket
    after its `connected`, at the positions the real `joined_channel` gave.
    """
    page.clock.install()  # toasts dismiss themselves after 8 s: fast-forwarded below
    relay = Relay()
    page.route_web_socket("**/ws", relay.route)
    in_new_project(page, server_url, "agents")
    joined = relay.wait_for(
        page,
        relay.from_server,
        lambda frame: (
            frame.get("event") == "joined_channel" and frame["data"]["project_id"] == "agents"
        ),
    )
    positions = joined["data"]["positions"]
    channel_topic, project_topic = "channel:agents/general", "project:agents"
    # Well ahead of the real positions, so that no real event the server emits meanwhile makes
    # the client take an injected one for a duplicate.
    seqs = {topic: positions[topic]["seq"] + 1000 for topic in (channel_topic, project_topic)}

    def inject(event: str, topic: str, data: Frame) -> None:
        seqs[topic] += 1
        epoch = positions[topic]["epoch"]
        relay.inject(
            {"event": event, "data": data, "topic": topic, "seq": seqs[topic], "epoch": epoch}
        )

    # The panel lists the four agents, as the (silent) /agents after the join found them.
    panel = page.locator("#agent-panel")
    expect(panel).to_be_visible()
    for agent in ("DesignAgent", "QAAgent", "CodeAgent", "DataAgent"):
        expect(panel.locator(f"[data-testid=agent-{agent}]")).to_have_attribute(
            "data-status", "idle"
        )
    # A status fills in one of them.
    code_agent = panel.locator("[data-testid=agent-CodeAgent]")
    status = {"project_id": "agents", "agent_id": "CodeAgent", "status": "working"}
    inject(
        "agent_status",
        project_topic,
        {**status, "task": "T1 Login form", "phase": "CODE_GREEN", "progress": 60},
    )
    expect(code_agent).to_have_attribute("data-status", "working")
    expect(code_agent).to_have_attribute("data-phase", "CODE_GREEN")
    expect(code_agent).to_contain_text("T1 Login form")
    expect(code_agent.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "60")
    inject("agent_status", project_topic, {**status, "phase": "REFACTOR", "progress": 85})
    expect(code_agent).to_have_attribute("data-phase", "REFACTOR")
    expect(code_agent.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "85")
    expect(panel.locator("[data-testid=agent-DesignAgent]")).to_have_attribute(
        "data-status", "idle"
    )

    # An agent's answer, with a button and a select menu that run commands.
    inject(
        "agent_response",
        channel_topic,
        {
            "project_id": "agents",
            "channel": "general",
            "agent_id": "QAAgent",
            "message": "Tests for T1 are red, as they should be.",
            "result": {"tests": 4, "failing": 4},
            "interactive_elements": [
                {
                    "type": "button",
                    "id": "state",
                    "label": "Show state",
                    "style": "primary",
                    "command": "/state",
                },
                {
                    "type": "select",
                    "id": "more",
                    "label": "More…",
                    "options": [{"label": "Help", "command": "/help"}],
                },
            ],
            "ts": time.time(),
        },
    )
    answer = page.locator("#message-list [data-testid=agent-message]").last
    expect(answer).to_contain_text("QAAgent")
    expect(answer).to_contain_text("AGENT")
    expect(answer).to_contain_text("Tests for T1 are red")
    expect(answer.locator("[data-testid=agent-result]")).to_contain_text("failing")
    answer.get_by_role("button", name="Show state").click()
    relay.wait_for(page, relay.from_page, command_frame("/state", "agents"))
    expect(last_embed(page)).to_contain_text("agents is IDLE")
    answer.get_by_role("combobox", name="More…").select_option(label="Help")
    relay.wait_for(page, relay.from_page, command_frame("/help", "agents"))
    expect(last_embed(page)).to_contain_text("/project register <name>")

    # Notifications: toasts that stay (errors) or go (after ~8 s), with actions.
    toasts = page.locator("#toasts [data-testid=toast]")
    notification = {"project_id": "agents", "type": "error", "title": "Task T1 blocked"}
    inject(
        "notification",
        project_topic,
        {
            **notification,
            "message": "CodeAgent failed 3 times.",
            "actions": [
                {
                    "type": "button",
                    "id": "resume",
                    "label": "Resume",
                    "style": "success",
                    "command": "/sprint resume",
                },
                {
                    "type": "button",
                    "id": "state",
                    "label": "Workflow state",
                    "style": "secondary",
                    "command": "/state",
                },
            ],
        },
    )
    inject(
        "notification",
        project_topic,
        {"project_id": "agents", "type": "success", "title": "Tests green", "message": "T1"},
    )
    expect(toasts).to_have_count(2)
    error_toast = toasts.filter(has_text="Task T1 blocked")
    expect(error_toast).to_have_attribute("data-type", "error")
    expect(toasts.filter(has_text="Tests green")).to_have_attribute("data-type", "success")
    page.clock.fast_forward(9000)
    expect(toasts).to_have_count(1)  # the success went, the error stays
    expect(error_toast).to_be_visible()
    # The project is IDLE: an action it refuses now is greyed out, with why.
    resume = error_toast.get_by_role("button", name="Resume")
    expect(resume).to_be_disabled()
    expect(resume).to_have_attribute("title", "Not now: the project is IDLE")
    error_toast.get_by_role("button", name="Workflow state").click()
    relay.wait_for(page, relay.from_page, command_frame("/state", "agents"))
    expect(toasts).to_have_count(0)  # acting on it closes it
    expect(last_embed(page)).to_contain_text("agents is IDLE")
    inject("notification", project_topic, {**notification, "message": "again"})
    expect(toasts).to_have_count(1)
    toasts.first.get_by_role("button", name="Dismiss notification").click()
    expect(toasts).to_have_count(0)

    # @Agent sends an agent_message, not chat; message_sent confirms it.
    send(page, "@DesignAgent please sketch the login page")
    frame = relay.wait_for(page, relay.from_page, lambda f: f.get("event") == "agent_message")
    assert frame["data"] == {
        "project_id": "agents",
        "channel": "general",
        "agent_id": "DesignAgent",
        "message": "please sketch the login page",
    }
    assert not [f for f in relay.from_page if f.get("event") == "message"]
    request = page.locator("#message-list [data-testid=agent-request]").last
    expect(request).to_have_attribute("data-status", "sent")
    expect(request).to_contain_text("@DesignAgent please sketch the login page")

    # The panel collapses on wide screens and is a drawer behind the toggle on narrow ones.
    toggle = page.locator("#agents-toggle")
    toggle.click()
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(panel).to_be_visible()
    page.set_viewport_size({"width": 700, "height": 800})
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(panel).to_be_visible()
    expect(code_agent).to_have_attribute("data-status", "working")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()


def test_a_full_sprint_seen_live_in_two_browsers(
    page: Page, browser: Browser, server_url: str
) -> None:
    """One member drives a sprint; another watches it run in a second browser."""
    in_new_project(page, server_url, "duo")
    send(page, "/project mode autonomous")
    send(page, '/epic "Checkout"')
    expect(page.locator("#message-list")).to_contain_text("Proposed 3 stories")

    watcher_context = browser.new_context(viewport={"width": 1280, "height": 800})
    watcher = watcher_context.new_page()
    try:
        log_in(watcher, server_url, "demo", "demo")
        watcher.locator("#project-list [data-testid=channel-duo-general]").click()
        expect(watcher.locator("#state-badge")).to_have_text("BACKLOG_READY")

        send(page, "/approve")
        send(page, "/sprint plan")
        expect(last_embed(page)).to_contain_text("Sprint SP1 planned")
        send(page, "/sprint start")
        expect(watcher.locator("#state-badge")).to_have_text("SPRINT_ACTIVE")
        expect(watcher.locator("#message-list")).to_contain_text("[T1 · DESIGN]")
        expect(watcher.locator("#state-badge")).to_have_text("SPRINT_REVIEW", timeout=20_000)
        expect(page.locator("#state-badge")).to_have_text("SPRINT_REVIEW")
        expect(watcher.locator("#message-list")).to_contain_text("[T3 · COMMIT]")
        send(page, '/feedback "Well done"')
        expect(watcher.locator("#state-badge")).to_have_text("IDLE")
    finally:
        watcher_context.close()


def wait_until(page: Page, condition: Callable[[], bool]) -> None:
    """Wait for `condition` (Playwright runs the socket handlers while the page waits)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def texts(messages: Locator) -> list[str]:
    return [text.strip() for text in messages.locator(".msg-text").all_inner_texts()]


def open_channel(page: Page, project_id: str) -> None:
    page.locator(f"#project-list [data-testid=channel-{project_id}-general]").click()
    expect(page.locator("#channel-title")).to_have_text("general")
    expect(page.locator("#channel-project")).to_have_text(project_id)


def test_resume_after_a_drop_brings_what_was_missed_once_and_in_order(
    page: Page, browser: Browser, server_url: str
) -> None:
    """Another member writes while the page is cut off: after the reconnect, `resume` replays
    exactly what it missed. A gap the server cannot fill makes the page join again instead."""
    relay = Relay()
    page.route_web_socket("**/ws", relay.route)
    in_new_project(page, server_url, "resume")
    status = page.locator("#connection-status")
    send(page, "before the drop")
    messages = page.locator("#message-list [data-testid=message]")
    expect(messages).to_have_count(1)

    other_context = browser.new_context(viewport=VIEWPORT)
    other = other_context.new_page()
    try:
        log_in(other, server_url, "demo", "demo")
        open_channel(other, "resume")
        other_messages = other.locator("#message-list [data-testid=message]")
        expect(other_messages).to_have_count(1)

        # Cut off; the server stays unreachable while the other member writes.
        relay.refusing = True
        relay.drop()
        expect(status).not_to_have_attribute("data-status", "connected")
        for n in (1, 2, 3):
            send(other, f"missed {n}")
            expect(other_messages).to_have_count(1 + n)
        relay.refusing = False
        expect(status).to_have_attribute("data-status", "connected", timeout=20_000)

        # The new socket resumed the channel, its project and the user topic; nothing was
        # joined again, and each missed message is there once, in order.
        sent = relay.connections[-1]
        resume = relay.wait_for(page, sent, lambda f: f.get("event") == "resume")
        resumed = relay.wait_for(
            page,
            relay.from_server,
            lambda f: f.get("event") == "resumed" and f.get("ref") == resume["id"],
        )
        positions = resume["data"]["positions"]
        assert positions["channel:resume/general"]["seq"] == 1, positions
        assert "project:resume" in positions, positions
        assert any(topic.startswith("user:") for topic in positions), positions
        assert resumed["data"]["channel:resume/general"]["recovered"] is True, resumed
        assert resumed["data"]["channel:resume/general"]["seq"] == 4, resumed
        assert not [frame for frame in sent if frame["event"] == "join_channel"], sent
        # Who is online stays listed (the server does not always announce it again).
        expect(page.locator("#online-section")).to_have_attribute("data-stale", "false")
        expect(page.locator("#online-list .member-name")).to_have_text(["demo"])
        expected = ["before the drop", "missed 1", "missed 2", "missed 3"]
        expect(messages).to_have_count(4)
        assert texts(messages) == expected

        send(page, "after the drop")
        expect(other_messages).to_have_count(5)
        expect(messages).to_have_count(5)
        expected.append("after the drop")
        assert texts(messages) == expected

        # Again, but the page's position is from a history that is gone (another epoch): the
        # server cannot replay, so the page joins the channel again and its list is replaced.
        def stale(frame: Frame) -> Frame:
            if frame["event"] != "resume":
                return frame
            positions = dict(frame["data"]["positions"])
            positions["channel:resume/general"] = {"seq": 5, "epoch": "gone"}
            return {**frame, "data": {"positions": positions}}

        def joins() -> list[Frame]:
            return [f for f in relay.from_server if f.get("event") == "joined_channel"]

        joins_before = len(joins())
        relay.rewrite = stale
        relay.refusing = True
        relay.drop()
        expect(status).not_to_have_attribute("data-status", "connected")
        send(other, "missed 4")
        expect(other_messages).to_have_count(6)
        relay.refusing = False
        expect(status).to_have_attribute("data-status", "connected", timeout=20_000)
        wait_until(page, lambda: len(joins()) > joins_before)
        assert joins()[-1]["data"]["channel"] == "general"
        sent = relay.connections[-1]
        asked = [frame["event"] for frame in sent if frame["event"] in ("resume", "join_channel")]
        assert asked == ["resume", "join_channel"], sent
        expected.append("missed 4")
        expect(messages).to_have_count(6)
        assert texts(messages) == expected
        page.wait_for_timeout(300)  # late duplicates would show by now
        assert texts(messages) == expected
    finally:
        other_context.close()


def test_typing_and_presence_of_another_user(page: Page, browser: Browser, server_url: str) -> None:
    """Two users in one channel: each is listed online, and sees the other typing."""
    relay = Relay()
    page.route_web_socket("**/ws", relay.route)
    in_new_project(page, server_url, "typing")
    indicator = page.locator("#typing-indicator")
    expect(indicator).to_have_attribute("data-active", "false")

    other_context = browser.new_context(viewport=VIEWPORT)
    other = other_context.new_page()
    try:
        log_in(other, server_url, ADMIN_USER, ADMIN_PASSWORD)
        expect(other.locator("#connection-status")).to_have_attribute("data-status", "connected")
        open_channel(other, "typing")
        other_indicator = other.locator("#typing-indicator")
        online = page.locator("#online-list .member-name")
        expect(page.locator("#online-title")).to_have_text("Online — 2")
        expect(online).to_have_text(["admin", "demo"])
        expect(page.locator("#online-list .member-you")).to_have_count(1)
        expect(other.locator("#online-title")).to_have_text("Online — 2")

        # The other user types: the page says so, then stops saying so ~5 s later.
        other.locator("#message-input").press_sequentially("hel", delay=50)
        expect(indicator).to_have_attribute("data-active", "true")
        expect(indicator).to_have_text("admin is typing…")
        expect(indicator).to_have_attribute("data-active", "false", timeout=8_000)
        expect(indicator).to_have_text("")

        # The page types: only the other user sees it; a /command is not "typing".
        box = page.locator("#message-input")
        box.fill("/state")
        page.wait_for_timeout(300)
        assert not [f for f in relay.from_page if f.get("event") == "typing"]
        box.fill("hi admin")
        expect(other_indicator).to_have_text("demo is typing…")
        frames = [f for f in relay.from_page if f.get("event") == "typing"]
        assert frames[0]["data"] == {"project_id": "typing", "channel": "general"}, frames
        box.fill("hi admin, how are")
        box.fill("hi admin, how are you?")
        page.wait_for_timeout(300)
        assert len([f for f in relay.from_page if f.get("event") == "typing"]) == 1  # throttled
        expect(indicator).to_have_attribute("data-active", "false")  # never one's own

        # Two at once; and a message ends its author's "typing" at once.
        other.locator("#message-input").press_sequentially("yes", delay=50)
        expect(indicator).to_have_text("admin is typing…")
        relay.inject(
            {
                "event": "typing",
                "data": {
                    "project_id": "typing",
                    "channel": "general",
                    "user": {"id": "u-carol", "username": "carol"},
                },
                "topic": "channel:typing/general",
            }
        )
        expect(indicator).to_have_text("admin and carol are typing…")
        other.locator("#message-input").press("Enter")
        expect(page.locator("#message-list [data-testid=message]").last).to_contain_text("yes")
        expect(indicator).to_have_text("carol is typing…")
        expect(indicator).to_have_attribute("data-active", "false", timeout=8_000)
    finally:
        other_context.close()
    expect(page.locator("#online-title")).to_have_text("Online — 1")  # the other one left
    expect(online).to_have_text(["demo"])


def test_presence_list_and_rate_limits(page: Page, server_url: str) -> None:
    """A presence that names a user twice lists them once; the `rate_limited` notice; the
    banner and the long wait after a 4429 close."""
    relay = Relay()
    page.route_web_socket("**/ws", relay.route)
    in_new_project(page, server_url, "presence")
    status = page.locator("#connection-status")
    connected = relay.wait_for(page, relay.from_server, lambda f: f.get("event") == "connected")
    me = connected["data"]["user"]

    online = page.locator("#online-section")
    expect(page.locator("#online-title")).to_have_text("Online — 1")  # the server's own
    relay.inject(
        {
            "event": "presence",
            "data": {
                "project_id": "presence",
                "channel": "general",
                "users": [
                    {"id": "u-zed", "username": "zed"},
                    {"id": me["id"], "username": me["username"]},
                    {"id": "u-zed", "username": "zed"},
                ],
            },
            "topic": "channel:presence/general",
        }
    )
    expect(online).to_be_visible()
    expect(page.locator("#online-title")).to_have_text("Online — 2")
    users = online.locator("[data-testid=online-user]")
    expect(users).to_have_count(2)
    expect(users.first).to_contain_text("demo")
    expect(users.first).to_contain_text("you")
    expect(users.locator(".member-name")).to_have_text(["demo", "zed"])
    # Another channel's presence does not show here.
    relay.inject(
        {
            "event": "presence",
            "data": {"project_id": "presence", "channel": "other", "users": []},
            "topic": "channel:presence/other",
        }
    )
    page.wait_for_timeout(200)
    expect(users).to_have_count(2)

    # `rate_limited` errors: one small notice however many, not a line each in the feed.
    errors_before = page.locator("#message-list [data-testid=system][data-tone=error]").count()
    limited = {"code": "rate_limited", "message": "too many frames: slow down"}
    for _ in range(5):
        relay.inject({"event": "error", "data": limited})
    notice = page.locator("#rate-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Slow down")
    expect(page.locator("#message-list [data-testid=system][data-tone=error]")).to_have_count(
        errors_before
    )
    expect(notice).to_be_hidden(timeout=8_000)

    # Closed 4429: a banner says why, and the next try waits far longer than a blip's.
    relay.drop(code=4429, reason="rate limit exceeded repeatedly")
    banner = page.locator("#connection-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Too many requests")
    expect(status).to_have_attribute("data-status", "reconnecting")
    countdown = page.locator("#connection-banner-countdown")
    expect(countdown).to_have_text(re.compile(r"Reconnecting in \d+ s\."))
    seconds = int(re.findall(r"\d+", countdown.inner_text())[0])
    assert 10 <= seconds <= 30, seconds
    status.click()  # "reconnect now" is still the user's call
    expect(status).to_have_attribute("data-status", "connected")
    expect(banner).to_be_hidden()


def test_notifications_of_a_project_not_open(page: Page, browser: Browser, server_url: str) -> None:
    """Every listed project is followed from the connect on: its notifications show as toasts
    naming it, whether another project or none is open, and mark it until it is opened."""
    other_context = browser.new_context(viewport=VIEWPORT)
    other = other_context.new_page()
    try:
        log_in(other, server_url, "demo", "demo")
        expect(other.locator("#connection-status")).to_have_attribute("data-status", "connected")
        send(other, "/project register north")
        expect(last_embed(other)).to_contain_text("Project north registered")
        send(other, "/project register south")
        expect(last_embed(other)).to_contain_text("Project south registered")

        relay = Relay()
        page.route_web_socket("**/ws", relay.route)
        log_in(page, server_url, "demo", "demo")
        expect(page.locator("#project-list [data-testid=project-north]")).to_be_visible()
        wait_until(page, lambda: any(f.get("event") == "resumed" for f in relay.from_server))
        follows = [f["data"]["positions"] for f in relay.from_page if f.get("event") == "resume"]
        assert follows and all(p == {"seq": 0, "epoch": ""} for f in follows for p in f.values())
        assert "project:north" in {topic for f in follows for topic in f}

        toasts = page.locator("#toasts [data-testid=toast]")
        open_channel(other, "north")
        send(other, '/backlog add_story "Password reset"')
        toast = toasts.filter(has_text="Story S1 added")
        expect(toast).to_be_visible()
        expect(toast.locator(".toast-project")).to_have_text("north")

        open_channel(page, "south")
        send(other, '/backlog add_story "Remember me"')
        toast = toasts.filter(has_text="Story S2 added")
        expect(toast).to_be_visible()
        expect(toast.locator(".toast-project")).to_have_text("north")
        rail_mark = page.locator("[data-testid=rail-alert-north]")
        expect(rail_mark).to_have_attribute("title", "2 new notifications")
        expect(page.locator("#project-list [data-testid=alert-north]")).to_be_visible()
        expect(page.locator("[data-testid=rail-alert-south]")).to_have_count(0)  # shown

        open_channel(page, "north")
        expect(rail_mark).to_have_count(0)
        expect(page.locator("#project-list [data-testid=alert-north]")).to_have_count(0)
        follows_after = [f for f in relay.from_page if f.get("event") == "resume"]
        assert len(follows_after) == len(follows)  # the list came again; nothing new to follow
    finally:
        other_context.close()


def test_added_to_a_project_and_removed_while_connected(page: Page, server_url: str) -> None:
    """An admin adds the user to a project: it is listed at once, with a toast; removed from
    it while it is open: a toast, it leaves the list, and the page goes home."""
    with httpx.Client(base_url=server_url, timeout=10) as http:

        def bearer(username: str, password: str) -> dict[str, str]:
            answer = http.post("/auth/login", json={"username": username, "password": password})
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        admin = bearer(ADMIN_USER, ADMIN_PASSWORD)
        newcomer = {"username": "newcomer", "password": "newcomer-password"}
        created = http.post("/auth/users", json=newcomer, headers=admin)
        assert created.status_code == 201, created.text
        project = http.post("/api/projects", json={"name": "staff-only"}, headers=admin)
        assert project.status_code == 201, project.text
        members = f"/auth/projects/staff-only/members/{created.json()['id']}"

        log_in(page, server_url, newcomer["username"], newcomer["password"])
        expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")
        listed = page.locator("#project-list [data-testid=project-staff-only]")
        expect(listed).to_have_count(0)

        assert http.put(members, headers=admin).status_code == 200
        expect(listed).to_be_visible()
        toasts = page.locator("#toasts [data-testid=toast]")
        expect(toasts.filter(has_text="Added to staff-only")).to_be_visible()
        open_channel(page, "staff-only")

        assert http.delete(members, headers=admin).status_code == 200
        expect(toasts.filter(has_text="Removed from staff-only")).to_be_visible()
        expect(listed).to_have_count(0)
        expect(page.locator("#channel-project")).not_to_have_text("staff-only")


def test_a_channel_created_opens_and_shows_for_every_member(
    page: Page, browser: Browser, server_url: str
) -> None:
    """`/channel create design`: the page opens #design; another member's sidebar gains it."""
    in_new_project(page, server_url, "rooms")

    other_context = browser.new_context(viewport=VIEWPORT)
    other = other_context.new_page()
    try:
        log_in(other, server_url, ADMIN_USER, ADMIN_PASSWORD)
        open_channel(other, "rooms")
        design = "#project-list [data-testid=channel-rooms-design]"
        expect(other.locator(design)).to_have_count(0)

        send(page, "/channel create design")
        expect(page.locator("#channel-title")).to_have_text("design")
        expect(last_embed(page)).to_contain_text("#design created in rooms")
        expect(page.locator(design)).to_have_class(re.compile(r"\bactive\b"))
        expect(other.locator(design)).to_be_visible()  # live, without a reload

        send(page, "hello design")
        other.locator(design).click()
        expect(other.locator("#channel-title")).to_have_text("design")
        expect(other.locator("#message-list [data-testid=message]").last).to_contain_text(
            "hello design"
        )
        send(page, "/channel create design")
        expect(last_embed(page)).to_contain_text("#design already exists")
    finally:
        other_context.close()
