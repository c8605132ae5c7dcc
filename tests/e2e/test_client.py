"""The browser client's newer parts against embedded Huddle: safe markdown, the sprint board,
the phone layout, modals and settings, autocomplete, metrics, and an offline reload."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Browser, Locator, Page, WebSocketRoute, expect

from .conftest import VIEWPORT, WAIT_MS
from .test_browser import in_new_project, last_embed, log_in, open_channel, propose_stories, send

expect.set_options(timeout=WAIT_MS)


def wait_until(page: Page, expression: str) -> None:
    """Poll an expression (wait_for_function evaluates strings, which the page's CSP forbids)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false: {expression}"
        page.wait_for_timeout(50)


def drag(page: Page, card: Locator, column: Locator) -> None:
    """HTML5 drag and drop, event by event (a mouse drag picks whatever lies under the pointer
    when it starts, and the board may have moved by then)."""
    data = page.evaluate_handle("new DataTransfer()")
    card.dispatch_event("dragstart", {"dataTransfer": data})
    column.dispatch_event("dragover", {"dataTransfer": data})
    column.dispatch_event("drop", {"dataTransfer": data})
    card.dispatch_event("dragend", {"dataTransfer": data})


def new_project(page: Page, server_url: str, name: str) -> None:
    log_in(page, server_url, "demo", "demo")
    expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")
    send(page, f"/project register {name}")
    expect(last_embed(page)).to_contain_text(f"Project {name} registered")
    expect(page.locator("#channel-title")).to_have_text("general")


def test_an_xss_payload_renders_as_text_and_markdown_is_safe(page: Page, server_url: str) -> None:
    new_project(page, server_url, "xss")
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    send(page, payload)
    message = page.locator("#message-list [data-testid=message]").last
    expect(message).to_contain_text(payload)
    assert page.locator("#message-list img, #message-list script").count() == 0

    send(page, "**bold** *it* `x<y` [ok](https://example.com/a) [bad](javascript:alert(1))")
    text = page.locator("#message-list [data-testid=message]").last.locator(".msg-text")
    expect(text.locator("strong")).to_have_text("bold")
    expect(text.locator("em")).to_have_text("it")
    expect(text.locator("code")).to_have_text("x<y")
    link = text.locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "https://example.com/a")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(text).to_contain_text("[bad](javascript:alert(1))")
    assert page.evaluate("window.__xss") is None


def test_sprint_board_drag_sends_a_change_and_shows_a_rejection(
    page: Page, server_url: str
) -> None:
    new_project(page, server_url, "board")
    send(page, '/epic "Checkout flow"')
    expect(last_embed(page)).to_have_attribute("data-ok", "true")
    # The stories are there once DesignAgent has proposed them.
    expect(page.locator("#message-list [data-testid=agent-message]").last).to_contain_text(
        "Proposed"
    )
    page.click("#view-toggle")
    board = page.locator("#sprint-board")
    # Nothing above the board moves any more (the project cards are drawn, the board is read).
    expect(page.locator("#project-cards [data-testid=project-card-board]")).to_be_visible()
    expect(board).to_have_attribute("data-status", "ready")
    page.wait_for_timeout(300)
    cards = board.locator(".board-card[data-entity-type=story]")
    expect(cards.first).to_be_visible()
    story = cards.first.get_attribute("data-testid") or ""
    card = board.locator(f"[data-testid={story}]")  # by id: a reload may reorder the cards
    status = card.get_attribute("data-status")
    target = "proposed" if status == "approved" else "approved"

    # An allowed move: the card lands in the new column and stays there once confirmed.
    drag(page, card, board.locator(f"[data-testid=column-story-{target}]"))
    moved = board.locator(f"[data-testid=column-story-{target}] [data-testid={story}]")
    expect(moved).to_be_visible()
    expect(moved).to_have_attribute("data-pending", "false")
    expect(page.locator("#board-rejection")).to_be_hidden()

    # A move the server refuses: the card goes back and the reason shows.
    drag(page, moved, board.locator("[data-testid=column-story-done]"))
    rejection = page.locator("#board-rejection")
    expect(rejection).to_be_visible()
    expect(rejection).to_contain_text("cannot change")
    expect(moved).to_be_visible()
    expect(board.locator(f"[data-testid={story}]")).to_have_class(re.compile(r"\brejected\b"))

    # The metrics widgets draw from the metrics service.
    expect(page.locator("#metrics [data-testid=metric-commands] canvas")).to_be_visible()
    expect(page.locator("#metrics [data-testid=metric-latency]")).to_contain_text("Latency")


def test_the_phone_layout(browser: Browser, server_url: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        new_project(page, server_url, "phone")
        sidebar = page.locator("#sidebar")
        box = sidebar.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1, box  # a drawer, off-screen
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        expect(page.locator("#message-input")).to_be_visible()
        # The closed drawer's controls are out of the Tab order.
        page.focus("#message-input")
        for _ in range(12):
            page.keyboard.press("Tab")
            assert not page.evaluate("!!document.activeElement.closest('#sidebar')")
        page.click("#sidebar-toggle")
        expect(sidebar).to_have_class(re.compile(r"\bopen\b"))
        wait_until(page, "document.getElementById('sidebar').getBoundingClientRect().x >= 0")
        page.locator("#project-list [data-testid=channel-phone-general]").click()
        expect(sidebar).not_to_have_class(re.compile(r"\bopen\b"))
        send(page, "hello from a phone")
        expect(page.locator("#message-list [data-testid=message]").last).to_contain_text(
            "hello from a phone"
        )
        page.click("#view-toggle")
        expect(page.locator("#dashboard-view")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.click("#view-toggle")

        # Of a stack of toasts, the two newest show (more would cover most of the screen).
        page.evaluate(
            """() => {
              const stack = document.getElementById('toasts');
              stack.hidden = false;
              for (let n = 0; n < 4; n += 1) {
                const toast = document.createElement('div');
                toast.className = 'toast fake-toast';
                toast.textContent = `toast ${n}`;
                stack.append(toast);
              }
            }"""
        )
        expect(page.locator("#toasts .fake-toast:visible")).to_have_text(["toast 2", "toast 3"])
        page.evaluate("document.querySelectorAll('.fake-toast').forEach((n) => n.remove())")

        # Help opened from the drawer: Esc closes the help (the top layer) and gives the focus
        # back to its button; a second Esc closes the drawer.
        page.click("#sidebar-toggle")
        expect(sidebar).to_have_class(re.compile(r"\bopen\b"))
        page.click("#rail-help")
        expect(page.locator("#modal-backdrop")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#modal-backdrop")).to_be_hidden()
        expect(sidebar).to_have_class(re.compile(r"\bopen\b"))
        expect(page.locator("#rail-help")).to_be_focused()
        page.keyboard.press("Escape")
        expect(sidebar).not_to_have_class(re.compile(r"\bopen\b"))
        expect(page.locator("#sidebar-toggle")).to_be_focused()
    finally:
        context.close()


def test_the_tablet_layout(browser: Browser, server_url: str) -> None:
    """768 px wide, the sidebar beside the chat: the header fits, its last button included,
    with the longest workflow state."""
    context = browser.new_context(viewport={"width": 768, "height": 1024})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        new_project(page, server_url, "tablet-with-a-long-name")
        propose_stories(page)
        send(page, "/approve")
        send(page, "/sprint plan")
        expect(page.locator("#state-badge")).to_have_text("SPRINT_PLANNED")
        assert page.evaluate("document.documentElement.scrollWidth") <= 768
        toggle = page.locator("#agents-toggle").bounding_box()
        assert toggle is not None and toggle["x"] + toggle["width"] <= 768, toggle
    finally:
        context.close()


def test_palette_help_settings_and_autocomplete(page: Page, server_url: str) -> None:
    log_in(page, server_url, "demo", "demo")
    expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")
    box = page.locator("#message-input")

    # No project open: a command that needs one is "not now", and picking it only fills the box.
    page.keyboard.press("Control+k")
    palette = page.locator("#modal-backdrop[data-modal=palette]")
    page.fill("[data-testid=palette-input]", "sprint status")
    status = palette.locator("[data-command='/sprint status']")
    expect(status).to_have_attribute("data-allowed", "false")
    page.keyboard.press("Enter")
    expect(palette).to_be_hidden()
    expect(box).to_have_value("/sprint status ")
    box.fill("")

    send(page, "/project register keys")
    expect(page.locator("#channel-title")).to_have_text("general")

    # Autocomplete: the matching commands, their states, and whether allowed now (IDLE).
    box.press_sequentially("/spr")
    menu = page.locator("#autocomplete")
    expect(menu).to_be_visible()
    start = menu.locator("[data-command='/sprint start']")
    expect(start).to_have_attribute("data-allowed", "false")
    expect(start).to_contain_text("not now")
    box.fill("")
    box.press_sequentially("/ep")
    expect(menu.locator("[data-command='/epic']")).to_have_attribute("data-allowed", "true")
    box.press("Tab")
    expect(box).to_have_value(re.compile(r"^/epic "))
    box.fill("")

    # Ctrl+K: the palette; Enter on a command that takes no argument runs it.
    page.keyboard.press("Control+k")
    expect(palette).to_be_visible()
    page.fill("[data-testid=palette-input]", "state")
    page.keyboard.press("Enter")
    expect(palette).to_be_hidden()
    expect(last_embed(page)).to_contain_text("IDLE")

    # Help lists the shortcuts and the commands; Tab goes round inside it (aria-modal), and
    # Esc gives the focus back.
    page.click("#rail-help")
    expect(page.locator("[data-testid=shortcuts]")).to_contain_text("Ctrl/⌘ + K")
    expect(page.locator("[data-testid=help-commands]")).to_contain_text("/sprint plan")
    for key in ["Tab"] * 8 + ["Shift+Tab"] * 8:
        page.keyboard.press(key)
        assert page.evaluate("!!document.activeElement.closest('#modal')"), key
    page.keyboard.press("Escape")
    expect(page.locator("#modal-backdrop")).to_be_hidden()
    expect(page.locator("#rail-help")).to_be_focused()

    # Settings: the light theme and compact mode, kept after a reload.
    page.click("#rail-settings")
    page.select_option("[data-testid=setting-theme]", "light")
    page.check("[data-testid=setting-compact]")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(227, 229, 232)"
    page.keyboard.press("Escape")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect(page.locator("#app-view")).to_have_attribute("data-compact", "true")
    # And the client reopened the channel it was in.
    expect(page.locator("#channel-project")).to_have_text("keys")


def test_a_reload_without_network_shows_the_app_and_its_offline_banner(
    page: Page, server_url: str
) -> None:
    new_project(page, server_url, "offline")
    send(page, "kept for offline")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    # The worker controls pages loaded after it is active (it claims this one too).
    wait_until(page, "navigator.serviceWorker.controller !== null")
    page.wait_for_timeout(700)  # the recent history cache is written after 0.5 s
    page.context.set_offline(True)
    page.reload()
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#connection-status")).not_to_have_attribute("data-status", "connected")
    expect(page.locator("#connection-banner")).to_be_visible()
    expect(page.locator("#message-list [data-testid=message]").last).to_contain_text(
        "kept for offline"
    )
    page.context.set_offline(False)
    expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")


def test_the_projects_load_when_the_remembered_channel_is_gone(page: Page, server_url: str) -> None:
    """A tab that remembers a channel of a project that no longer exists (an embedded server
    restarted, a project one was removed from): the project list still loads, and the user is
    told why the channel did not open."""
    new_project(page, server_url, "kept")
    page.evaluate(
        "sessionStorage.setItem('huddle.channel',"
        " JSON.stringify({projectId: 'vanished', channel: 'general'}))"
    )
    page.reload()
    expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")
    expect(page.locator("#project-list")).to_contain_text("kept")
    expect(page.locator("#message-list")).to_contain_text("Cannot open #general of vanished")


def test_the_chat_still_follows_new_messages_after_the_dashboard(
    page: Page, browser: Browser, server_url: str
) -> None:
    """At the newest message, open the dashboard while others write, come back: the chat
    shows the newest message, as it did before."""
    new_project(page, server_url, "follow")
    for n in range(25):  # more than a screen
        send(page, f"before {n}")
    messages = page.locator("#message-list [data-testid=message]")
    expect(messages.last).to_contain_text("before 24")
    page.click("#view-toggle")
    expect(page.locator("#message-list")).to_be_hidden()

    other_context = browser.new_context(viewport=VIEWPORT)
    other = other_context.new_page()
    try:
        log_in(other, server_url, "demo", "demo")
        open_channel(other, "follow")
        for n in range(10):
            send(other, f"meanwhile {n}")
        expect(other.locator("#message-list [data-testid=message]").last).to_contain_text(
            "meanwhile 9"
        )
    finally:
        other_context.close()
    expect(messages.last).to_contain_text("meanwhile 9")  # arrived while hidden

    page.click("#view-toggle")
    expect(messages.last).to_be_in_viewport()
    gap = page.locator("#message-list").evaluate(
        "list => list.scrollHeight - list.scrollTop - list.clientHeight"
    )
    assert gap < 5, f"{gap} px above the newest message"


def test_a_modal_is_above_the_toasts(page: Page, server_url: str) -> None:
    """Settings opened while a notification shows: the toast does not cover the modal."""
    new_project(page, server_url, "modal")
    send(page, '/epic "Checkout flow"')
    toast = page.locator("#toasts .toast").first
    expect(toast).to_be_visible()
    page.click("#rail-settings")
    close = page.locator("#modal-close")
    expect(close).to_be_visible()
    box = close.bounding_box()
    assert box is not None
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.closest('#modal-backdrop') !== null",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    toast_box = toast.bounding_box()
    assert toast_box is not None
    covered = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.closest('#toasts') === null",
        [toast_box["x"] + toast_box["width"] / 2, toast_box["y"] + toast_box["height"] / 2],
    )
    assert on_top and covered


def test_buttons_of_earlier_answers_are_disabled_while_their_command_cannot_run(
    page: Page, server_url: str
) -> None:
    """ "Plan a sprint" once a sprint is planned, "Start sprint" once it runs: greyed out, with
    why, instead of answering an error when clicked."""
    new_project(page, server_url, "stale")
    propose_stories(page)
    send(page, "/approve")
    plan = page.locator("#message-list [data-testid=action-button][data-command='/sprint plan']")
    expect(plan.last).to_be_enabled()
    send(page, "/sprint plan")
    expect(page.locator("#state-badge")).to_have_text("SPRINT_PLANNED")
    expect(plan.last).to_be_disabled()
    expect(plan.last).to_have_attribute("title", "Not now: the project is SPRINT_PLANNED")
    start = page.locator("#message-list [data-testid=action-button][data-command='/sprint start']")
    expect(start.last).to_be_enabled()
    send(page, "/sprint start")
    expect(page.locator("#state-badge")).to_have_text("SPRINT_ACTIVE")
    expect(start.last).to_be_disabled()


def test_the_palette_offers_approve_only_while_something_waits(page: Page, server_url: str) -> None:
    """Stories proposed or a task at its gate: `/approve` is allowed now; once approved, not."""
    in_new_project(page, server_url, "gates")
    palette = page.locator("#modal-backdrop[data-modal=palette]")

    def approve_allowed(expected: str) -> None:
        page.keyboard.press("Control+k")
        page.fill("[data-testid=palette-input]", "approve")
        expect(palette.locator("[data-command='/approve']")).to_have_attribute(
            "data-allowed", expected
        )
        page.keyboard.press("Escape")
        expect(palette).to_be_hidden()

    propose_stories(page)
    approve_allowed("true")
    send(page, "/approve")
    expect(last_embed(page)).to_contain_text("Approved")
    approve_allowed("false")  # BACKLOG_READY, nothing proposed any more
    send(page, "/sprint plan")
    expect(page.locator("#state-badge")).to_have_text("SPRINT_PLANNED")
    send(page, "/sprint start")
    expect(
        page.locator("#toasts [data-testid=toast]").filter(has_text="waits for your approval")
    ).to_be_visible()
    approve_allowed("true")  # a task at its gate, the state unchanged


def test_a_command_the_server_is_slow_to_take_says_so(page: Page, server_url: str) -> None:
    """No `command_received` for a while (a busy broker): past 5 s the wait says why, and that
    the command is not lost."""
    held: list[str] = []

    def slow_broker(socket: WebSocketRoute) -> None:
        server = socket.connect_to_server()

        def page_sent(message: str | bytes) -> None:
            if '"event":"command"' in str(message).replace(" ", "") and "/state" in str(message):
                held.append(str(message))  # never reaches the server: no answer comes
                return
            server.send(message)

        socket.on_message(page_sent)

    page.route_web_socket("**/ws", slow_broker)
    in_new_project(page, server_url, "slowly")
    send(page, "/state")
    wait = page.locator("#message-list [data-testid=command-pending] .msg-pending-wait").last
    expect(wait).to_have_text(re.compile(r"^[3-4] s$"))
    expect(wait).to_contain_text("the server is slow to take it in (busy); it is not lost")
    assert held
