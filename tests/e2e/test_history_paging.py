"""10,000 messages in one channel, in Chromium: a windowed list, older pages on scroll-up."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from playwright.sync_api import Page, Request, expect

from tests.client import Client, login

from .conftest import embedded_huddle
from .test_browser import log_in, send

# Every limit that would slow the seeding down is a setting: raised here, for this server only.
FAST_POSTING = {
    "HUDDLE_RATE_LIMIT_PER_S": "1000000",
    "HUDDLE_RATE_LIMIT_BURST": "1000000",
    "HUDDLE_HISTORY_MAX_LEN": "20000",
}
BIG = 10_000
SMALL = 230  # a few pages of 50 beyond the 50 that `join_channel` brings
SOCKETS = 4
# The message list's window: at most 300 items (messages.js WINDOW), under one top line.
MAX_NODES = 301


@pytest.fixture(scope="module")
def paging_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Embedded Huddle with the per-socket rate limit raised for the seeding."""
    with embedded_huddle(tmp_path_factory.mktemp("paging"), FAST_POSTING) as url:
        yield url


async def _drain(ws: websockets.ClientConnection) -> None:
    """Read (and drop) what the server sends, so that its send queue never fills."""
    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        pass


async def _post(
    ws_url: str, token: str, project: str, texts: list[str], stored: asyncio.Event
) -> None:
    """Send chat messages over one socket; keep it open until everything is stored."""
    async with websockets.connect(ws_url, open_timeout=10) as ws:
        await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
        reader = asyncio.create_task(_drain(ws))
        for index, text in enumerate(texts):
            data = {"project_id": project, "channel": "general", "text": text}
            await ws.send(json.dumps({"event": "message", "data": data, "id": f"m{index}"}))
        await stored.wait()
        reader.cancel()


async def _watch(
    ws_url: str, token: str, project: str, count: int, joined: asyncio.Event, stored: asyncio.Event
) -> None:
    """Follow the channel; set `joined` once it follows, `stored` once `count` messages came."""
    async with websockets.connect(ws_url, open_timeout=10) as ws:
        await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
        join = {"project_id": project, "channel": "general"}
        await ws.send(json.dumps({"event": "join_channel", "data": join, "id": "j1"}))
        seen = 0
        async for raw in ws:
            frame = json.loads(raw)
            if frame["event"] == "joined_channel":
                joined.set()
            elif frame["event"] == "message":
                seen += 1
                if seen == count:
                    stored.set()
                    return


async def _history(http: httpx.AsyncClient, path: str) -> list[str]:
    """Every message text of a channel, oldest first, read page by page from the history API."""
    texts: list[str] = []
    before: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 200} | ({"before": before} if before else {})
        page = (await http.get(path, params=params)).raise_for_status().json()
        texts.extend(item["data"]["text"] for item in page["items"] if item["event"] == "message")
        before = page["next_before"]
        if before is None:
            return texts[::-1]


async def _seed(urls: Urls, project: str, count: int) -> list[str]:
    """Register `project` and post `count` messages over several sockets; the stored order."""
    token = await login(urls.auth)
    ws_url = urls.gateway.replace("http://", "ws://") + "/ws"
    owner = await Client.connect(ws_url, token)
    result = await owner.command(f"/project register {project}")
    assert result["data"]["ok"], result
    await owner.close()
    texts = [f"{project} message {number:05d}" for number in range(1, count + 1)]
    shares = [texts[start::SOCKETS] for start in range(SOCKETS)]
    joined, stored = asyncio.Event(), asyncio.Event()
    async with asyncio.timeout(90):
        watcher = asyncio.create_task(_watch(ws_url, token, project, count, joined, stored))
        await joined.wait()
        # One socket each, in parallel; each keeps its own order.
        await asyncio.gather(
            *(_post(ws_url, token, project, share, stored) for share in shares), watcher
        )
    async with httpx.AsyncClient(
        base_url=urls.sync, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        history = await _history(http, f"/api/messages/{project}/general")
    assert sorted(history) == texts, "every message is stored once"
    return history


@dataclass(frozen=True)
class Urls:
    """Where the gateway, the auth service and the sync service answer (one URL embedded)."""

    gateway: str
    auth: str
    sync: str

    @classmethod
    def embedded(cls, url: str) -> Urls:
        """All in one process."""
        return cls(url, url, url)


def seed(urls: Urls, project: str, count: int) -> list[str]:
    """`_seed` in a thread of its own (sync Playwright runs an event loop in this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _seed(urls, project, count)).result()


# Scrolls the list to its top ("up") or bottom ("down") and resolves once other messages are
# first (last) in it, with how long that took, where the message seen at that end moved
# meanwhile, and what is shown.
STEP = """async (direction) => {
  const list = document.getElementById('message-list');
  const texts = () => [...list.querySelectorAll('[data-testid=message] .msg-text')];
  const end = () => (direction === 'up' ? texts()[0] : texts().at(-1)).textContent;
  const anchor = end();
  // Where the anchor's message ends on screen (its node may be replaced, and its top moves
  // when it joins the group of an older message put above it).
  const bottom = () => {
    const node = texts().find((text) => text.textContent === anchor)?.closest('article');
    return node ? node.getBoundingClientRect().bottom - list.getBoundingClientRect().top : null;
  };
  list.scrollTop = direction === 'up' ? 0 : list.scrollHeight;
  const before = bottom();
  const started = performance.now();
  await new Promise((resolve, reject) => {
    if (end() !== anchor) return resolve();
    const timer = setTimeout(() => reject(new Error(`nothing came (${direction})`)), 10000);
    new MutationObserver((_, observer) => {
      if (end() === anchor) return;
      observer.disconnect();
      clearTimeout(timer);
      resolve();
    }).observe(list, { childList: true });
  });
  const ms = performance.now() - started;
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  return {
    ms,
    // 0 when the anchor stayed where it was on screen (what came in does not push it).
    jump: bottom() === null ? null : bottom() - before,
    nodes: list.children.length,
    texts: texts().map((node) => node.textContent),
  };
}"""


def open_channel(page: Page, base_url: str, project: str, newest_text: str) -> float:
    """Log in, open the project's #general; how long opening took (ms, measured in the page)."""
    log_in(page, base_url, "demo", "demo")
    expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")
    started = page.evaluate("performance.now()")
    page.click(f"#project-list [data-testid=channel-{project}-general]")
    newest = page.locator("#message-list [data-testid=message] .msg-text").last
    expect(newest).to_have_text(newest_text)
    return float(page.evaluate("performance.now()")) - float(started)


def window_of(stored: list[str], texts: list[str]) -> int:
    """Where the shown texts sit in the stored history; they must be a contiguous run of it."""
    assert texts, "messages are shown"
    start = stored.index(texts[0])
    assert texts == stored[start : start + len(texts)], "in order, none missing or twice"
    return start


def history_requests(page: Page) -> list[str]:
    """The URLs of history-API calls the page makes from now on."""
    urls: list[str] = []

    def seen(request: Request) -> None:
        if "/api/messages/" in request.url:
            urls.append(request.url)

    page.on("request", seen)
    return urls


def walk(page: Page, stored: list[str], direction: str) -> list[float]:
    """Scroll to one end step by step until the first (last) message of `stored` is shown.

    Each step must bring other messages, a contiguous run of `stored`, with a bounded number of
    nodes, without moving the message that was at that end. Returns each step's time in ms.
    """
    texts = page.locator("#message-list .msg-text").all_text_contents()
    up = direction == "up"
    # The index in `stored` of the first (up) or last (down) message shown.
    at = window_of(stored, texts) + (0 if up else len(texts) - 1)
    times: list[float] = []
    while at != (0 if up else len(stored) - 1):
        step = page.evaluate(STEP, direction)
        times.append(step["ms"])
        assert step["nodes"] <= MAX_NODES, step["nodes"]
        assert step["jump"] is not None and abs(step["jump"]) <= 2, step["jump"]
        texts = step["texts"]
        moved = window_of(stored, texts) + (0 if up else len(texts) - 1)
        assert moved < at if up else moved > at, "other messages came"
        at = moved
    return times


def test_ten_thousand_messages_stay_fast_and_windowed(page: Page, paging_url: str) -> None:
    """10,000 messages: few nodes in the DOM, every older page on scroll-up, quick steps."""
    started = time.perf_counter()
    stored = seed(Urls.embedded(paging_url), "big", BIG)
    seeded_s = time.perf_counter() - started
    requests = history_requests(page)
    open_ms = open_channel(page, paging_url, "big", stored[-1])
    nodes = page.locator("#message-list > *").count()
    assert nodes <= MAX_NODES
    first = window_of(stored, page.locator("#message-list .msg-text").all_text_contents())
    assert first == BIG - 50, "the channel opens on the newest 50 (join_channel's history)"

    started = time.perf_counter()
    up_ms = walk(page, stored, "up")
    up_s = time.perf_counter() - started
    befores = [url for url in requests if "before=" in url]
    assert len(befores) == (BIG - 50) // 50, "every older page of 50, once"
    assert len(set(befores)) == len(befores), "no page was asked twice"
    expect(page.locator("#message-list .welcome-title")).to_have_text("Welcome to #general!")
    assert page.evaluate("document.getElementById('message-list').dataset.total") == str(BIG)

    down_ms = walk(page, stored, "down")
    # A new message with all 10,000 held: the reducer and the list take it in quickly.
    live_started = page.evaluate("performance.now()")
    send(page, "live after ten thousand")
    expect(page.locator("#message-list .msg-text").last).to_have_text("live after ten thousand")
    live_ms = float(page.evaluate("performance.now()")) - float(live_started)
    print(
        f"\n10,000 messages: seeded in {seeded_s:.1f} s; channel opened in {open_ms:.0f} ms "
        f"with {nodes} nodes; {len(up_ms)} scroll-up steps (fetch + render) in {up_s:.1f} s, "
        f"median {sorted(up_ms)[len(up_ms) // 2]:.0f} ms, max {max(up_ms):.0f} ms; "
        f"{len(down_ms)} scroll-down steps, max {max(down_ms):.0f} ms; "
        f"a live message with 10,000 held: {live_ms:.0f} ms"
    )
    assert open_ms < 5000
    assert max(up_ms) < 3000
    assert max(down_ms) < 3000
    assert live_ms < 3000


def scroll_back_to_the_first(page: Page, stored: list[str]) -> None:
    """From the newest 50 (the channel just opened), scroll up to the first message, in order."""
    first = window_of(stored, page.locator("#message-list .msg-text").all_text_contents())
    assert first == len(stored) - 50
    expect(page.locator("#message-list [data-testid=feed-older]")).to_be_visible()
    walk(page, stored, "up")
    assert page.locator("#message-list .msg-text").first.text_content() == stored[0]
    expect(page.locator("#message-list .welcome-title")).to_have_text("Welcome to #general!")


def test_scrolling_up_reaches_the_first_message(page: Page, paging_url: str) -> None:
    """A few pages: the newest first, then older ones in order up to the very first message."""
    stored = seed(Urls.embedded(paging_url), "small", SMALL)
    requests = history_requests(page)
    open_channel(page, paging_url, "small", stored[-1])
    scroll_back_to_the_first(page, stored)
    assert len([url for url in requests if "before=" in url]) == 4  # 180 older: 50+50+50+30
