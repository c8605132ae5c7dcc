"""What a client is told of its frames when the gateway shuts down before finishing them.

The socket protocol (`services/common/shutdown.py`) stops the app reading at shutdown: a frame
that comes after that is answered by `refusal_while_leaving`, which the gateway hands the
protocol as a scope extension. The frames read before it are answered as usual until the
`HUDDLE_DRAIN_S` deadline; `leave_unfinished` then says what became of those still in hand.
"""

from __future__ import annotations

import orjson

from services.common.contracts import (
    AgentMessageFrame,
    CommandFrame,
    MessageFrame,
    StateChangeFrame,
    frame_ref,
)
from services.common.jsonutil import server_frame

from .connection import Connection
from .inbox import FrameInbox

# The frames a client needs to hear were not handled (it would wait, or take them as done).
ANSWERED_WHILE_LEAVING = frozenset(
    {"command", "message", "agent_message", "state_change", "join_channel", "subscribe", "resume"}
)


def not_accepted_while_leaving(event: str) -> str:
    """What a client is told of a frame the server did not handle because it is leaving."""
    return f"the {event} was not accepted: this server is shutting down; send it again"


def refusal_while_leaving(frame: bytes) -> bytes | None:
    """`error unavailable` for a frame that came after shutdown began: it was not handled.

    None for a frame whose loss nobody minds (a ping, `typing`, leaving what the closing socket
    leaves anyway) or that would have been refused as malformed.
    """
    try:
        parsed = orjson.loads(frame)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("event") not in ANSWERED_WHILE_LEAVING:
        return None
    message = not_accepted_while_leaving(str(parsed["event"]))
    return server_frame("error", {"code": "unavailable", "message": message}, frame_ref(parsed))


def leave_unfinished(connection: Connection, inbox: FrameInbox) -> None:
    """At the deadline with frames unhandled (a broker slow to confirm, or blocking
    publishers): say what became of each, as their handling is cut off with the socket."""
    running, dropped = inbox.give_up()
    for frame in dropped:  # the frames the reader queued: every one has an event and an id
        event, ref = getattr(frame, "event", None), getattr(frame, "id", None)
        if event in ANSWERED_WHILE_LEAVING:
            connection.error("unavailable", not_accepted_while_leaving(str(event)), ref)
    blocked = connection.not_handed_over()  # never handed to the broker: it cannot run
    unconfirmed = connection.unconfirmed()
    for command_id, ref in unconfirmed:
        if command_id == blocked:
            connection.error("unavailable", not_accepted_while_leaving("command"), ref)
            connection.forget(command_id)
            continue
        connection.error(
            "unavailable",
            "this server shut down before the broker confirmed the command: it may still run",
            ref,
            {"may_still_run": True, "command_id": command_id},
        )
        connection.in_doubt(command_id)
    ran = connection.flush_early()  # results that overtook their confirm: those ran
    if isinstance(running, CommandFrame):
        if not unconfirmed and not ran:  # cut off before it was published (checking access)
            connection.error("unavailable", not_accepted_while_leaving(running.event), running.id)
    elif running is not None:
        _answer_cut_off(connection, running)


def _answer_cut_off(connection: Connection, running: object) -> None:
    """Say what became of a frame (not a command) whose handling the deadline cut off."""
    event, ref = getattr(running, "event", None), getattr(running, "id", None)
    published = isinstance(running, MessageFrame | AgentMessageFrame | StateChangeFrame)
    if published and connection.handed_over():
        # Perhaps being confirmed: the echo, the agent's answer or the entity will tell.
        what = "change" if isinstance(running, StateChangeFrame) else event
        outcome = "applied" if isinstance(running, StateChangeFrame) else "posted"
        connection.error(
            "unavailable",
            f"this server shut down before the broker confirmed the {what}: it may still be "
            f"{outcome}",
            ref,
            {"may_still_run": True},
        )
    elif published:  # not handed to the broker (checking access, or publishers blocked)
        connection.error("unavailable", not_accepted_while_leaving(str(event)), ref)
    elif event in ANSWERED_WHILE_LEAVING:  # a join, subscribe or resume: reads, cut short
        connection.error(
            "unavailable",
            f"the {event} was not finished: this server is shutting down; send it again",
            ref,
        )
