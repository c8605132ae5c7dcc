"""Security headers on every HTTP response: the seed's set, a strict CSP, HSTS behind TLS."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(connect_to: Sequence[str] = ()) -> str:
    """A CSP without `unsafe-inline` or `unsafe-eval`: scripts and styles from our origin only.

    `connect_to` adds origins the page may call (the auth service when it is elsewhere).
    """
    connect = " ".join(["'self'", *connect_to])
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"font-src 'self'; connect-src {connect}; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL, else None (same origin)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(connect_to: Sequence[str] = ()) -> dict[bytes, bytes]:
    """The headers every response gets (HSTS is added per request, see the middleware)."""
    headers = {
        "content-security-policy": content_security_policy(connect_to),
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        # The seed's value; browsers that still have an XSS auditor block instead of rewriting.
        "x-xss-protection": "1; mode=block",
        "referrer-policy": "strict-origin-when-cross-origin",
        "permissions-policy": "geolocation=(), microphone=(), camera=()",
        "cross-origin-opener-policy": "same-origin",
    }
    return {name.encode(): value.encode() for name, value in headers.items()}


class SecurityHeaders:
    """ASGI middleware: adds the headers to each HTTP response that does not set them itself."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        connect_to: Sequence[str] = (),
        behind_tls: bool = False,
        hsts_max_age_s: int = 31_536_000,
    ) -> None:
        self.app = app
        self._headers = security_headers(connect_to)
        self._behind_tls = behind_tls
        self._hsts = f"max-age={hsts_max_age_s}; includeSubDomains".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = self._behind_tls or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self._headers.items() if k not in present]
                if secure and b"strict-transport-security" not in present:
                    extra.append((b"strict-transport-security", self._hsts))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
