"""Small pieces: topic matching, frame serialisation, frame reading, JSON logs."""

from __future__ import annotations

import json
import logging

import pytest

from services.common.bus import topic_matches
from services.common.jsonutil import server_frame, with_position
from services.common.logs import JsonFormatter, correlation_id
from services.gateway.frames import FrameError, read_frame
from services.orchestrator.model import slugify


@pytest.mark.parametrize(
    ("binding", "key", "expected"),
    [
        ("#", "a.b.c", True),
        ("cmd.#", "cmd.command", True),
        ("cmd.#", "cmd", True),
        ("cmd.*", "cmd.a.b", False),
        ("*.result", "command.result", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.#.z", "a.z", True),
        ("a.b", "a.c", False),
    ],
)
def test_topic_matching(binding: str, key: str, expected: bool) -> None:
    assert topic_matches(binding, key) is expected


def test_position_is_appended_without_reserialising() -> None:
    frame = with_position(server_frame("message", {"text": "hi"}), "channel:p/g", 7, "ep")
    assert json.loads(frame) == {
        "event": "message",
        "data": {"text": "hi"},
        "topic": "channel:p/g",
        "seq": 7,
        "epoch": "ep",
    }


def test_read_frame_keeps_the_id_for_errors() -> None:
    error = read_frame('{"event": "command", "data": {"command": 5}, "id": "x"}')
    assert isinstance(error, FrameError) and (error.code, error.ref) == ("bad_request", "x")


def test_read_frame_reads_a_command() -> None:
    frame = read_frame('{"event": "command", "data": {"command": "/help"}, "id": "x"}')
    assert not isinstance(frame, FrameError) and frame.event == "command"


@pytest.mark.parametrize(
    "name,slug", [("Demo", "demo"), ("My App!", "my-app"), ("  a  b ", "a-b"), ("!!!", "")]
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_log_lines_are_json_with_the_correlation_id() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    token = correlation_id.set("cmd-1")
    try:
        line = json.loads(JsonFormatter("gateway").format(record))
    finally:
        correlation_id.reset(token)
    assert line["msg"] == "hello you" and line["correlation_id"] == "cmd-1"
    assert line["service"] == "gateway" and line["level"] == "INFO"
