"""HTTP request bodies over a size limit are answered 413 `too_large`, never read whole.

A body that declares a length over the limit (`Content-Length`) is refused before any of it
is read; one sent in chunks as soon as what arrived passes the limit. The refusal is raised
where the app reads the body, so the app's error handler answers it like any other error,
with the same body and headers. (FastAPI's own `max_body_size` answers a declared length
in plain text, outside the app's middleware.)
"""

from __future__ import annotations

# FastAPI's own: its body parsing lets that one through; any other it turns into a 400.
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """ASGI middleware, innermost: a request body over `max_bytes` gets 413, unread."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        too_large = f"request body larger than {self.max_bytes} bytes"
        received = 0

        async def counted() -> Message:
            nonlocal received
            if declared is not None and declared > self.max_bytes:
                raise HTTPException(413, too_large)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, too_large)
            return message

        await self.app(scope, counted, send)
