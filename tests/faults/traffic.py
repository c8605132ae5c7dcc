"""Steady traffic for fault tests, and the checks that nothing was lost or answered twice."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
import websockets

from tests.client import Client, Frame, login

SERVE_AGAIN_S = 10.0
COMMAND = "/help"
T = TypeVar("T")


@dataclass
class Sent:
    """One frame a talker sent: a command or a chat message."""

    kind: str  # "command" | "message"
    ref: str
    text: str
    # The socket it went out on closed before any answer: the client knows it failed.
    lost_socket: bool = False


@dataclass
class Talker:
    """A client that sends a command and a chat message in turn, every `interval_s`."""

    name: str
    client: Client
    urls: Sequence[str]
    project_id: str
    sent: list[Sent] = field(default_factory=list)
    reconnects: int = 0
    _closed: list[list[Sent]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event, interval_s: float, limit: int) -> None:
        """Talk until `stop` is set or `limit` frames were sent; reconnect when the socket dies."""
        on_socket: list[Sent] = []
        counter = itertools.count()
        while not stop.is_set() and len(self.sent) < limit:
            i = next(counter)
            kind = "command" if i % 2 == 0 else "message"
            text = COMMAND if kind == "command" else f"{self.name}-{i}"
            data = {"project_id": self.project_id, "channel": "general"}
            data |= {"command": text} if kind == "command" else {"text": text}
            try:
                ref = await self.client.send(kind, data)
            except websockets.ConnectionClosed:
                self._closed.append(on_socket)
                on_socket = []
                await self._reconnect()
                continue
            sent = Sent(kind, ref, text)
            self.sent.append(sent)
            on_socket.append(sent)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    async def _reconnect(self, attempts: int = 150) -> None:
        """Resume on the first gateway that answers (the dead one is tried last)."""
        for attempt in range(attempts):
            url = self.urls[(attempt + 1) % len(self.urls)]
            self.client.ws_url = url
            try:
                await self.client.reconnect()
                self.reconnects += 1
                return
            except (OSError, websockets.WebSocketException, AssertionError, TimeoutError):
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name}: no gateway took the reconnect")

    def settle(self) -> None:
        """Mark what went out on a socket that closed with neither answer nor refusal."""
        answered = {f.get("ref") for f in self.client.frames}
        for sent in self._closed:
            for item in sent:
                item.lost_socket = item.ref not in answered

    def answer(self, ref: str) -> Frame | None:
        """The frame answering `ref` (command_received or an error), if any arrived."""
        matches = answers(ref)
        return next((frame for frame in self.client.frames if matches(frame)), None)


def answers(ref: str) -> Callable[[Frame], bool]:
    """Matches the `command_received` or the error that answers the command `ref`."""
    return lambda f: f.get("ref") == ref and f["event"] in ("command_received", "error")


def result_for(command_id: str) -> Callable[[Frame], bool]:
    """Matches the `command_result` of one command."""
    return lambda f: f["event"] == "command_result" and f["data"]["command_id"] == command_id


def message_with(text: str) -> Callable[[Frame], bool]:
    """Matches the chat message with this text."""
    return lambda f: f["event"] == "message" and f["data"]["text"] == text


def answering(ref: str) -> Callable[[Frame], bool]:
    """Matches the frame that answers the client frame `ref`."""
    return lambda f: f.get("ref") == ref


async def talkers_on(
    ws_url: str, auth_url: str, urls: Sequence[Sequence[str]], name: str
) -> tuple[list[Talker], str, str]:
    """A new project and one talker in its #general per list of gateway URLs (its own first)."""
    token = await login(auth_url)
    owner = await Client.connect(ws_url, token)
    registered = await owner.command(f"/project register {name}")
    await owner.close()
    project_id = str(registered["data"]["result"]["project_id"])
    talkers = []
    for i, own_urls in enumerate(urls):
        client = await Client.connect(own_urls[0], token)
        ref = await client.send("join_channel", {"project_id": project_id, "channel": "general"})
        joined = await client.wait_for(answering(ref))
        assert joined["event"] == "joined_channel", joined
        talkers.append(Talker(f"t{i}", client, own_urls, project_id))
    return talkers, project_id, token


def messages(frames: Sequence[Frame], project_id: str) -> list[Frame]:
    """The chat messages of the project's #general among `frames`, in arrival order."""
    topic = f"channel:{project_id}/general"
    return [f for f in frames if f["event"] == "message" and f.get("topic") == topic]


async def channel_history(sync_url: str, token: str, project_id: str) -> list[tuple[int, str]]:
    """(seq, text) of every message in the channel's history, oldest first."""
    items: list[tuple[int, str]] = []
    before: int | None = None
    async with httpx.AsyncClient(base_url=sync_url, timeout=10) as http:
        while True:
            params = {"limit": 200} | ({"before": before} if before else {})
            response = await http.get(
                f"/api/messages/{project_id}/general",
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()
            page = response.json()
            items += [
                (i["seq"], i["data"]["text"]) for i in page["items"] if i["event"] == "message"
            ]
            before = page["next_before"]
            if before is None:
                return sorted(items)


async def check_commands(talkers: Sequence[Talker], within_s: float = 30) -> dict[str, int]:
    """Every command: answered exactly once, or refused `unavailable` (or its socket died)."""
    outcome: Counter[str] = Counter()
    for talker in talkers:
        talker.settle()
        for sent in (s for s in talker.sent if s.kind == "command"):
            answer = talker.answer(sent.ref)
            if answer is None and not sent.lost_socket:
                # Sent just before the traffic stopped: its answer may still be on its way.
                with contextlib.suppress(TimeoutError, AssertionError):
                    await talker.client.wait_for(answers(sent.ref), within_s=within_s)
                answer = talker.answer(sent.ref)
            if answer is None:
                assert sent.lost_socket, f"{talker.name}: command {sent.ref} got no answer"
                outcome["socket_closed"] += 1
                continue
            if answer["event"] == "error":
                assert answer["data"]["code"] == "unavailable", answer
                outcome["unavailable"] += 1
                # One that "may still run" gets its result (with this ref) at most once; one
                # refused for certain never runs.
                # With its ref on the same socket, or by its id after a reconnect.
                doubted = answer["data"].get("command_id")
                ran = [
                    f
                    for f in talker.client.frames
                    if f["event"] == "command_result"
                    and (f.get("ref") == sent.ref or f["data"]["command_id"] == doubted)
                ]
                assert len(ran) <= (1 if answer["data"].get("may_still_run") else 0), ran
                outcome["unavailable_then_ran"] += len(ran)
                continue
            command_id = answer["data"]["command_id"]

            result_of = result_for(command_id)
            await talker.client.wait_for(result_of, within_s=within_s)
            results = [f for f in talker.client.frames if result_of(f)]
            assert len(results) == 1, f"{talker.name}: {len(results)} results for {command_id}"
            outcome["answered"] += 1
    return dict(outcome)


async def check_messages(
    talkers: Sequence[Talker],
    sync_url: str,
    token: str,
    *,
    in_doubt: int = 0,
    within_s: float = 30,
) -> dict[str, int]:
    """The history holds every accepted message once, in each sender's order, and every
    client has received (live or by resume) the whole channel from its join on, in order.

    `in_doubt`: how many messages refused `unavailable` may be kept anyway (a publish whose
    confirm was lost when the broker closed the connection: the broker may have taken it).
    """
    project_id = talkers[0].project_id
    refused: set[str] = set()
    accepted: list[list[str]] = []
    doubtful: set[str] = set()
    for talker in talkers:
        talker.settle()
        mine: list[str] = []
        for sent in (s for s in talker.sent if s.kind == "message"):
            answer = talker.answer(sent.ref)
            if answer is not None:
                assert answer["data"]["code"] == "unavailable", answer
                refused.add(sent.text)
            elif sent.lost_socket:
                doubtful.add(sent.text)
            else:
                mine.append(sent.text)
        accepted.append(mine)
    last = [m[-1] for m in accepted if m]
    for talker in talkers:  # wait until each has every sender's last accepted message
        for text in last:
            await talker.client.wait_for(message_with(text), within_s=within_s)
    history = await channel_history(sync_url, token, project_id)
    seqs = [seq for seq, _ in history]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "gaps in the history"
    texts = [text for _, text in history]
    counts = Counter(texts)
    assert not [t for t, n in counts.items() if n > 1], "a message is twice in the history"
    kept_refused = sorted(refused & set(texts))
    assert len(kept_refused) <= in_doubt, f"refused but kept: {kept_refused} of {len(refused)}"
    for mine in accepted:
        kept = [t for t in texts if t in set(mine)]
        assert kept == mine, f"lost or out of order: {sorted(set(mine) - set(kept))[:5]}"
    for talker in talkers:
        got = messages(talker.client.frames, project_id)
        got_seqs = [f["seq"] for f in got]
        assert got_seqs == list(range(got_seqs[0], seqs[-1] + 1)), f"{talker.name}: gap or dup"
        assert [f["data"]["text"] for f in got] == texts[got_seqs[0] - seqs[0] :]
    return {
        "kept": len(texts),
        "refused": len(refused),
        "refused_kept": len(kept_refused),
        "socket_closed": len(doubtful),
        "doubtful_kept": len(doubtful & set(texts)),
    }


def series_value(page: str, series: str) -> float | None:
    """One series' value (`name{labels}`) in a Prometheus text page, or None if absent."""
    for line in page.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def gauge(page: str, name: str, queue: str) -> float | None:
    """A per-queue series' value in a Prometheus text page, or None if absent."""
    return series_value(page, f'{name}{{queue="{queue}"}}')


async def metric_value(service_url: str, series: str) -> float:
    """One series' value on a service's `/metrics` page (`name{labels}`), 0 if absent."""
    async with httpx.AsyncClient(timeout=5) as http:
        page = (await http.get(service_url + "/metrics")).text
    return series_value(page, series) or 0.0


async def dead_letters(metrics_url: str, queues: Sequence[str], within_s: float = 20) -> float:
    """The dead-letter queue's depth on the metrics service, once every queue has a consumer."""
    async with httpx.AsyncClient(timeout=5) as http, asyncio.timeout(within_s):
        while True:
            try:
                page = (await http.get(metrics_url + "/metrics")).text
            except httpx.TransportError:  # the metrics service itself may be restarting
                await asyncio.sleep(0.2)
                continue
            consumers = [gauge(page, "huddle_bus_queue_consumers", q) for q in queues]
            dead = gauge(page, "huddle_bus_queue_messages", "dead")
            if dead is not None and all(c is not None and c >= 1 for c in consumers):
                return dead
            await asyncio.sleep(0.2)


async def serving_again(ws_urls: Sequence[str], auth_url: str, project_id: str) -> float:
    """Seconds until a fresh client's command is answered and its message comes back."""
    started = time.monotonic()
    deadline = started + 3 * SERVE_AGAIN_S
    probe = 0
    failure: BaseException | None = None
    while time.monotonic() < deadline:
        probe += 1
        try:
            async with asyncio.timeout(2):
                token = await login(auth_url)
                client = await Client.connect(ws_urls[probe % len(ws_urls)], token)
            try:
                await _probe(client, project_id, probe)
                return time.monotonic() - started
            finally:
                await client.close()
        except (
            OSError,
            httpx.HTTPError,
            websockets.WebSocketException,
            AssertionError,
            TimeoutError,
        ) as exc:
            failure = exc
            await asyncio.sleep(0.1)
    raise AssertionError(f"not serving {3 * SERVE_AGAIN_S} s after it returned: {failure!r}")


async def _probe(client: Client, project_id: str, probe: int) -> None:
    # A probe that got in waits its turn: one given up after a few seconds would go to the back
    # of the queue again, behind the traffic that came meanwhile, and time how long until the
    # queue is empty rather than until a new command is answered.
    async with asyncio.timeout(SERVE_AGAIN_S):
        ref = await client.send("join_channel", {"project_id": project_id, "channel": "general"})
        joined = await client.wait_for(answering(ref))
        assert joined["event"] == "joined_channel", joined
        result = await client.command(COMMAND, project_id)
        assert result["data"]["ok"], result
        text = f"probe-{probe}"
        await client.send("message", {"project_id": project_id, "channel": "general", "text": text})
        await client.wait_for(message_with(text))


async def during_traffic(
    talkers: Sequence[Talker],
    fault: Callable[[], Awaitable[T]],
    *,
    interval_s: float = 0.05,
    before_s: float = 1.0,
    after_s: float = 1.0,
    limit: int = 2000,
) -> T:
    """Run the talkers, inject `fault` after `before_s`, stop them `after_s` after it returns."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(t.run(stop, interval_s, limit)) for t in talkers]
    try:
        await asyncio.sleep(before_s)
        outcome = await fault()
        await asyncio.sleep(after_s)
        return outcome
    finally:
        stop.set()
        await asyncio.gather(*tasks)
