"""The sprint board without a mouse (keyboard, touch), live across browsers, and the sound."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, WebSocket, expect

from .conftest import VIEWPORT, WAIT_MS
from .test_browser import last_embed, log_in, open_channel, propose_stories, send
from .test_client import new_project, wait_until

expect.set_options(timeout=WAIT_MS)

# A stand-in for Web Audio that counts the beeps started (headless Chromium plays nothing).
FAKE_AUDIO = """
window.__beeps = 0;
window.AudioContext = class {
  constructor() { this.state = 'running'; this.currentTime = 0; this.destination = {}; }
  resume() { return Promise.resolve(); }
  createOscillator() {
    return { frequency: { value: 0 }, connect: (node) => node,
             start: () => { window.__beeps += 1; }, stop: () => {} };
  }
  createGain() {
    return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} },
             connect: (node) => node };
  }
};
"""


class Frames:
    """The frames a page sends and receives on its sockets, parsed."""

    def __init__(self, page: Page) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        page.on("websocket", self._attach)

    def _attach(self, socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: self.sent.append(_parse(payload)))
        socket.on("framereceived", lambda payload: self.received.append(_parse(payload)))

    def changes(self) -> list[dict[str, Any]]:
        """The data of every `state_change` sent."""
        return self.sent_data("state_change")

    def sent_data(self, event: str) -> list[dict[str, Any]]:
        """The data of every frame of `event` sent."""
        return [f["data"] for f in self.sent if f.get("event") == event]


def _parse(payload: str | bytes) -> dict[str, Any]:
    try:
        frame = json.loads(payload)
    except ValueError:
        return {}
    return frame if isinstance(frame, dict) else {}


@pytest.fixture
def touch_page(browser: Browser) -> Iterator[Page]:
    """A page in a context with a touch screen, at desktop size (the board fits)."""
    context = browser.new_context(viewport=VIEWPORT, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        yield page
    finally:
        context.close()


def board_with_stories(page: Page) -> tuple[Locator, str]:
    """Propose stories, open the dashboard; returns the board and a proposed story's test id."""
    send(page, '/epic "Checkout flow"')
    expect(last_embed(page)).to_have_attribute("data-ok", "true")
    expect(page.locator("#message-list [data-testid=agent-message]").last).to_contain_text(
        "Proposed"
    )
    return open_board(page)


def open_board(page: Page) -> tuple[Locator, str]:
    """The dashboard's board once read; returns it and its first proposed story's test id."""
    page.click("#view-toggle")
    board = page.locator("#sprint-board")
    expect(board).to_have_attribute("data-status", "ready")
    first = board.locator("[data-testid=column-story-proposed] .board-card").first
    expect(first).to_be_visible()
    return board, first.get_attribute("data-testid") or ""


def in_column(board: Locator, status: str, testid: str) -> Locator:
    return board.locator(f"[data-testid=column-story-{status}] [data-testid={testid}]")


def keyboard_move(page: Page, card: Locator, columns: int) -> None:
    """Focus the card, pick it up, move it `columns` to the right, drop it."""
    card.focus()
    page.keyboard.press("Space")
    for _ in range(columns):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")


def test_keyboard_moves_a_card_and_shows_a_refusal(page: Page, server_url: str) -> None:
    frames = Frames(page)
    new_project(page, server_url, "kbd")
    board, story = board_with_stories(page)
    live = page.locator("[data-testid=board-live]")
    card = board.locator(f"[data-testid={story}]")

    # Space picks it up, → shows it over "Approved", Esc puts it back: nothing is sent.
    card.focus()
    page.keyboard.press("Space")
    expect(live).to_contain_text("Picked up")
    page.keyboard.press("ArrowRight")
    expect(in_column(board, "approved", story)).to_have_class(re.compile(r"\bcarrying\b"))
    expect(live).to_contain_text("over Approved")
    page.keyboard.press("Escape")
    expect(in_column(board, "proposed", story)).to_be_visible()
    expect(live).to_contain_text("Move cancelled")
    expect(page.locator("#modal-backdrop")).to_be_hidden()
    assert frames.changes() == []

    # Enter, →, Enter: the change is sent, the card lands and stays (confirmed), keeping focus.
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    moved = in_column(board, "approved", story)
    expect(moved).to_be_visible()
    expect(moved).to_have_attribute("data-pending", "false")
    expect(moved).to_be_focused()
    expect(live).to_contain_text("dropped in Approved")
    entity_id = moved.get_attribute("data-entity-id")
    assert [
        {k: v for k, v in change.items() if k != "change_id"} for change in frames.changes()
    ] == [
        {
            "entity_type": "story",
            "entity_id": entity_id,
            "field": "status",
            "old_value": "proposed",
            "new_value": "approved",
        }
    ]

    # A move the server refuses (approved → planned): back, outlined, the reason above.
    keyboard_move(page, moved, 1)
    rejection = page.locator("#board-rejection")
    expect(rejection).to_be_visible()
    expect(rejection).to_contain_text("cannot change")
    expect(moved).to_be_visible()
    expect(moved).to_have_class(re.compile(r"\brejected\b"))
    assert frames.changes()[-1]["new_value"] == "planned"


def touch_drag(page: Page, card: Locator, column: Locator) -> None:
    """A real touch drag (Chromium's input pipeline: touch → pointer events) from the card's
    centre to the column's, in small sideways steps."""
    start, end = card.bounding_box(), column.bounding_box()
    assert start is not None and end is not None
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    x1, y1 = end["x"] + end["width"] / 2, y0  # same row: the columns sit side by side
    cdp = page.context.new_cdp_session(page)
    try:
        touch = "Input.dispatchTouchEvent"
        cdp.send(touch, {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
        steps = 10
        for step in range(1, steps + 1):
            x = x0 + (x1 - x0) * step / steps
            cdp.send(touch, {"type": "touchMove", "touchPoints": [{"x": x, "y": y1}]})
        # The card follows the finger (pointer events, not an HTML5 drag) over its target.
        expect(page.locator(".board-card.touch-dragging")).to_have_count(1)
        expect(column).to_have_class(re.compile(r"\bdrop-target\b"))
        cdp.send(touch, {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def test_touch_drag_moves_a_card_and_shows_a_refusal(touch_page: Page, server_url: str) -> None:
    page = touch_page
    frames = Frames(page)
    new_project(page, server_url, "touch")
    board, story = board_with_stories(page)
    card = board.locator(f"[data-testid={story}]")
    card.scroll_into_view_if_needed()

    touch_drag(page, card, board.locator("[data-testid=column-story-approved]"))
    moved = in_column(board, "approved", story)
    expect(moved).to_be_visible()
    expect(moved).to_have_attribute("data-pending", "false")
    assert [(c["old_value"], c["new_value"]) for c in frames.changes()] == [
        ("proposed", "approved")
    ]
    expect(moved).not_to_have_class(re.compile(r"\btouch-dragging\b"))

    touch_drag(page, moved, board.locator("[data-testid=column-story-done]"))
    rejection = page.locator("#board-rejection")
    expect(rejection).to_be_visible()
    expect(rejection).to_contain_text("cannot change")
    expect(moved).to_have_class(re.compile(r"\brejected\b"))


def test_board_changes_show_live_in_another_browser(
    page: Page, browser: Browser, server_url: str
) -> None:
    """A story approved by drag in one browser, and a running sprint's tasks, move in another
    browser's board by subscription, without reading the board again."""
    new_project(page, server_url, "live")
    send(page, "/project mode autonomous")
    expect(last_embed(page)).to_have_attribute("data-ok", "true")
    board, story = board_with_stories(page)

    watcher_context: BrowserContext = browser.new_context(viewport=VIEWPORT)
    watcher = watcher_context.new_page()
    watcher.set_default_timeout(WAIT_MS)
    watcher_frames = Frames(watcher)
    reads: list[str] = []
    watcher.on(
        "request",
        lambda request: reads.append(request.url) if "/api/projects/live/" in request.url else None,
    )
    try:
        log_in(watcher, server_url, "demo", "demo")
        expect(watcher.locator("#connection-status")).to_have_attribute("data-status", "connected")
        open_channel(watcher, "live")
        other_board, _ = open_board(watcher)
        expect(other_board.locator(f"[data-testid={story}]")).to_be_visible()
        backlog_reads = sum("/backlog" in url for url in reads)

        keyboard_move(page, board.locator(f"[data-testid={story}]"), 1)
        expect(in_column(other_board, "approved", story)).to_be_visible()
        watcher.wait_for_timeout(500)  # a (debounced, 250 ms) re-read would have started by now
        assert sum("/backlog" in url for url in reads) == backlog_reads  # live, not re-read

        # A sprint runs: the watcher's task cards advance to done as the tasks do.
        page.click("#view-toggle")
        send(page, "/approve")
        send(page, "/sprint plan")
        expect(last_embed(page)).to_contain_text("Sprint SP1 planned")
        tasks = other_board.locator("[data-testid=lane-task] .board-card")
        expect(tasks.first).to_be_visible()
        count = tasks.count()
        send(page, "/sprint start")
        done = other_board.locator("[data-testid=column-task-done] .board-card")
        expect(done).to_have_count(count, timeout=30_000)
        task_changes = [
            f
            for f in watcher_frames.received
            if f.get("event") == "state_changed"
            and f.get("data", {}).get("entity_type") == "task"
            and f["data"].get("field") == "status"
        ]
        assert {f["data"]["new_value"] for f in task_changes} >= {"running", "done"}, task_changes
    finally:
        watcher_context.close()


def test_a_story_added_elsewhere_shows_on_the_board(
    page: Page, browser: Browser, server_url: str
) -> None:
    """`/backlog add_story` in one browser: another browser's board shows the new card, read
    again on the notification that announces it (the card was not followed before)."""
    new_project(page, server_url, "added")
    propose_stories(page)
    watcher_context: BrowserContext = browser.new_context(viewport=VIEWPORT)
    watcher = watcher_context.new_page()
    watcher.set_default_timeout(WAIT_MS)
    try:
        log_in(watcher, server_url, "demo", "demo")
        expect(watcher.locator("#connection-status")).to_have_attribute("data-status", "connected")
        open_channel(watcher, "added")
        other_board, _ = open_board(watcher)
        expect(other_board).not_to_contain_text("Gift cards")

        send(page, '/backlog add_story "Gift cards" high')
        expect(last_embed(page)).to_have_attribute("data-ok", "true")
        expect(other_board.locator(".board-card", has_text="Gift cards")).to_be_visible()
    finally:
        watcher_context.close()


def poll_ids(
    page: Page, frames: Frames, event: str, enough: Callable[[set[str]], bool]
) -> set[str]:
    """The entity ids of the `event` frames sent, once `enough` holds (frames arrive late)."""
    ids: set[str] = set()
    for _ in range(100):
        ids = {f["entity_id"] for f in frames.sent_data(event)}
        if enough(ids):
            return ids
        page.wait_for_timeout(50)
    raise AssertionError(f"{event}: only {ids}")


def test_opening_another_board_lets_the_old_cards_go(page: Page, server_url: str) -> None:
    """A socket follows the entities of the board it shows: opening another project's board
    unsubscribes the first one's project, stories and tasks, and nothing of the new one."""
    frames = Frames(page)
    for name in ("first", "second"):
        if name == "first":
            new_project(page, server_url, name)
        else:
            send(page, f"/project register {name}")
            expect(page.locator("#channel-project")).to_have_text(name)
        propose_stories(page)
    open_channel(page, "first")
    open_board(page)
    followed = poll_ids(page, frames, "subscribe", lambda ids: "first" in ids and len(ids) > 1)
    assert all(i == "first" or i.startswith("first:") for i in followed), followed

    page.click("#view-toggle")
    open_channel(page, "second")
    open_board(page)
    dropped = poll_ids(page, frames, "unsubscribe", lambda ids: ids >= followed)
    assert not any(i == "second" or i.startswith("second:") for i in dropped), dropped


def test_a_notification_beeps_only_with_the_sound_on(browser: Browser, server_url: str) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(FAKE_AUDIO)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        new_project(page, server_url, "sound")
        toasts = page.locator("[data-testid=toast]")
        send(page, '/epic "Quiet"')
        expect(toasts.filter(has_text="for E1")).to_be_visible()
        assert page.evaluate("window.__beeps") == 0  # the sound is off by default

        page.click("#rail-settings")
        page.check("[data-testid=setting-sound]")
        page.keyboard.press("Escape")
        send(page, '/epic "Loud"')
        expect(toasts.filter(has_text="for E2")).to_be_visible()
        wait_until(page, "window.__beeps > 0")  # the toast and the beep come from one frame
        assert page.evaluate("window.__beeps") == 1
    finally:
        context.close()


def test_the_board_fits_beside_the_sidebars(page: Page, server_url: str) -> None:
    """At desktop size with a sprint planned, a lane wider than the view (five columns) scrolls
    sideways on its own instead of widening the whole dashboard, which clipped every lane."""
    new_project(page, server_url, "fits")
    propose_stories(page)
    send(page, "/approve")
    send(page, "/sprint plan")
    expect(last_embed(page)).to_contain_text("Sprint SP1 planned")
    page.click("#view-toggle")
    board = page.locator("#sprint-board")
    expect(board.locator("[data-testid=lane-task] .board-card").first).to_be_visible()

    dashboard = page.locator("#dashboard-view")
    sizes = dashboard.evaluate("node => [node.scrollWidth, node.clientWidth]")
    assert sizes[0] <= sizes[1], f"the dashboard scrolls sideways: {sizes}"
    box = dashboard.bounding_box()
    done = board.locator("[data-testid=column-story-done]").bounding_box()
    assert box is not None and done is not None
    assert done["x"] + done["width"] <= box["x"] + box["width"], (done, box)
    tasks = board.locator("[data-testid=lane-task] .board-columns")
    widths = tasks.evaluate("node => [node.scrollWidth, node.clientWidth]")
    assert widths[0] > widths[1], widths  # the last columns: reached by scrolling the lane


def test_a_card_carried_to_the_last_column_is_scrolled_into_view(
    page: Page, server_url: str
) -> None:
    """The story lane is wider than the view: carried by keyboard to Rejected, its last column,
    the card is wholly visible in the lane."""
    new_project(page, server_url, "carry")
    board, story = board_with_stories(page)
    card = board.locator(f"[data-testid={story}]")
    card.focus()
    page.keyboard.press("Space")
    for _ in range(4):  # proposed → approved → planned → done → rejected
        page.keyboard.press("ArrowRight")
    carried = in_column(board, "rejected", story)
    expect(carried).to_be_visible()
    lane = board.locator("[data-testid=lane-story] .board-columns").bounding_box()
    box = carried.bounding_box()
    assert lane is not None and box is not None
    assert lane["x"] <= box["x"] and box["x"] + box["width"] <= lane["x"] + lane["width"] + 1
    page.keyboard.press("Escape")
