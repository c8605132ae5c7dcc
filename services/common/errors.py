"""The body of every HTTP error: `{"error": {"code", "message"}}`, the code by status."""

from __future__ import annotations

ERROR_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "bad_request",
    409: "conflict",
    413: "too_large",
    422: "bad_request",
    429: "rate_limited",
    503: "unavailable",
}


def error_body(status: int, message: str, code: str | None = None) -> dict[str, object]:
    """The `{"error": {"code", "message"}}` body every HTTP error has."""
    return {"error": {"code": code or ERROR_CODES.get(status, "internal"), "message": message}}
