"""What a gateway that is shutting down answers to a frame it will not handle."""

from __future__ import annotations

import json

import pytest

from services.gateway.leaving import refusal_while_leaving


@pytest.mark.parametrize(
    "event",
    ["command", "message", "agent_message", "state_change", "join_channel", "subscribe", "resume"],
)
def test_a_frame_the_client_waits_on_is_refused_unavailable_with_its_ref(event: str) -> None:
    refusal = refusal_while_leaving(json.dumps({"event": event, "id": "f1", "data": {}}).encode())
    assert refusal is not None
    assert json.loads(refusal) == {
        "event": "error",
        "data": {
            "code": "unavailable",
            "message": f"the {event} was not accepted: this server is shutting down; send it again",
        },
        "ref": "f1",
    }


@pytest.mark.parametrize(
    "frame",
    [
        b'{"event":"ping","id":"p1"}',  # a keepalive: a notice about it would only confuse
        b'{"event":"typing","id":"t1","data":{}}',
        b'{"event":"leave_channel","id":"l1","data":{}}',  # the closing socket leaves anyway
        b'{"event":"no_such_event","id":"x1"}',
        b"not json",
        b"[1, 2]",
    ],
)
def test_a_frame_nobody_waits_on_or_a_malformed_one_gets_no_answer(frame: bytes) -> None:
    assert refusal_while_leaving(frame) is None


def test_an_id_longer_than_a_ref_may_be_is_not_echoed() -> None:
    refusal = refusal_while_leaving(json.dumps({"event": "command", "id": "x" * 129}).encode())
    assert refusal is not None and "ref" not in json.loads(refusal)
