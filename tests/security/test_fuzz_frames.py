"""10,000 random and malformed frames (hypothesis): no crash, a documented answer to each."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.contracts import CLIENT_EVENTS, ErrorData
from tests.security.huddle import Huddle, Socket, running

ERROR_CODES = frozenset(get_args(ErrorData.model_fields["code"].annotation))
FIELDS = [
    "token",
    "command",
    "project_id",
    "channel",
    "text",
    "agent_id",
    "message",
    "context",
    "positions",
    "seq",
    "epoch",
    "entity_type",
    "entity_id",
    "change_id",
    "field",
    "old_value",
    "new_value",
]
FRAMES, BATCH = 10_000, 20
UNLIMITED = {"rate_limit_per_s": 1e9, "rate_limit_burst": 10**9, "connect_burst": 10**6}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["general", "p1", "demo", "project:x", "channel:a/b", "/help", "\x00"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
data_objects = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)
events = st.sampled_from(sorted(CLIENT_EVENTS - {"auth"})) | st.text(max_size=16)
frames = st.fixed_dictionaries(
    {"event": events | json_values},
    optional={"data": data_objects | json_values, "id": st.text(max_size=140) | json_values},
).filter(lambda frame: frame.get("event") != "auth")
raw_frames = st.one_of(
    frames.map(json.dumps),
    frames.map(lambda frame: json.dumps(frame).encode()),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Huddle]:
    with running(gateway=UNLIMITED) as huddle:
        yield huddle


@pytest.mark.timeout(1200)
def test_10000_random_frames_get_documented_answers_and_never_crash(fuzzed: Huddle) -> None:
    """After each frame a `ping` must come back: the socket lives, every error is documented.

    Frames go in batches (each followed by its own `ping`), so the answers of one frame are
    the frames between its ping and the previous one.
    """
    sent: list[int] = []
    with fuzzed.socket(fuzzed.token()) as socket:

        @settings(
            max_examples=FRAMES // BATCH,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(batch=st.lists(raw_frames, min_size=BATCH, max_size=BATCH))
        def one(batch: list[str | bytes]) -> None:
            for index, raw in enumerate(batch):
                if isinstance(raw, bytes):
                    socket.ws.send_bytes(raw)
                else:
                    socket.ws.send_text(raw)
                socket.ws.send_json({"event": "ping", "id": f"probe-{index}"})
            for index, raw in enumerate(batch):
                socket.wait_for(_pong(f"probe-{index}"))
                for frame in socket.frames[:-1]:
                    _check(frame, raw)
                del socket.frames[:]
            sent.append(len(batch))

        one()
    assert sum(sent) >= FRAMES


def _pong(probe: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("ref") == probe and frame["event"] == "pong"


def _check(frame: dict[str, Any], raw: str | bytes) -> None:
    if frame["event"] != "error":
        return
    code, message = frame["data"]["code"], frame["data"]["message"]
    assert code in ERROR_CODES and code != "internal", (code, message, raw)
    assert isinstance(message, str) and message, (frame, raw)


@pytest.mark.timeout(600)
def test_random_first_frames_close_4401(fuzzed: Huddle) -> None:
    """Anything but a valid `auth` frame as the first frame closes the socket 4401."""

    @settings(
        max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        raw=raw_frames
        | st.builds(
            lambda t: json.dumps({"event": "auth", "data": {"token": t}}),
            st.text(min_size=1, max_size=300),
        )
    )
    def one(raw: str | bytes) -> None:
        with fuzzed.http.websocket_connect("/ws") as ws:
            if isinstance(raw, bytes):
                ws.send_bytes(raw)
            else:
                ws.send_text(raw)
            assert Socket(ws).closed_with() == 4401

    one()
