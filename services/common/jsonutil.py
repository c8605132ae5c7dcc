"""Fast JSON for the hot paths (orjson), in one place."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel


def dumps(value: Any) -> bytes:
    """Serialise a value (pydantic models included) to compact JSON bytes."""
    if isinstance(value, BaseModel):
        return value.__pydantic_serializer__.to_json(value, exclude_none=True)
    return orjson.dumps(value)


def loads(raw: bytes | str) -> Any:
    """Parse JSON bytes or text."""
    return orjson.loads(raw)


def server_frame(event: str, data: BaseModel | dict[str, Any], ref: str | None = None) -> bytes:
    """Build one server frame as JSON bytes."""
    frame: dict[str, Any] = {"event": event, "data": data}
    if isinstance(data, BaseModel):
        frame["data"] = data.model_dump(mode="json", exclude_none=True)
    if ref is not None:
        frame["ref"] = ref
    return orjson.dumps(frame)


def extend(frame: bytes, fields: dict[str, Any]) -> bytes:
    """Add top-level fields to a serialised frame (a non-empty JSON object) without parsing it."""
    return frame[:-1] + b"," + orjson.dumps(fields)[1:]


def with_position(frame: bytes, topic: str, seq: int, epoch: str) -> bytes:
    """Append `topic`, `seq` and `epoch` to a serialised frame."""
    return extend(frame, {"topic": topic, "seq": seq, "epoch": epoch})
