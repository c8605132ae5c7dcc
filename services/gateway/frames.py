"""Reading one client frame: a validated model, or the error that explains what was wrong."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from services.common.contracts import CLIENT_EVENTS, CLIENT_FRAME, ClientFrame, frame_ref


@dataclass(frozen=True)
class FrameError:
    """Why a frame was refused, and the id to answer it with."""

    code: str
    message: str
    ref: str | None


def read_frame(text: str | bytes) -> ClientFrame | FrameError:
    """Parse and validate a client frame."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        return FrameError("bad_request", "frame is not valid JSON", None)
    ref = frame_ref(raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("event"), str):
        return FrameError("bad_request", 'frame must be an object with a string "event"', ref)
    if raw["event"] not in CLIENT_EVENTS:
        return FrameError("unknown_event", f"unknown event {raw['event'][:64]!r}", ref)
    raw.setdefault("data", {})
    try:
        return CLIENT_FRAME.validate_python(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        code = "too_large" if any(e["type"] == "string_too_long" for e in errors) else "bad_request"
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'frame'}: {e['msg']}" for e in errors[:5]
        )
        return FrameError(code, f"invalid {raw['event']} frame: {detail}", ref)
