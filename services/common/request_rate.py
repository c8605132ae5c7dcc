"""A limit on HTTP API requests per client address, with headers that say where a client stands.

The original design's default request limit (`RATELIMIT_DEFAULT`, with its rate-limit headers).
Only the API is counted (`/api/…`, `/auth/…` but the JWKS, which services fetch from each
other); health, metrics, the web client's files and the WebSocket have limits of their own or
none. Counts are kept per process in fixed one-minute windows: no store round trip per request,
at the price that N processes behind one balancer let a client through N times the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .addresses import client_address, parse_networks
from .errors import error_body

WINDOW_S = 60.0
LIMITED_PREFIXES = ("/api/", "/auth/")
NOT_LIMITED = frozenset({"/auth/jwks.json"})
# Addresses counted apart in one window; past this, new ones share a single count, so a
# flood of made-up addresses costs bounded memory and is limited as one client.
MAX_ADDRESSES = 100_000
_SHARED = "(many addresses)"


def is_limited(path: str) -> bool:
    """Whether requests to `path` count against the limit."""
    return path.startswith(LIMITED_PREFIXES) and path not in NOT_LIMITED


class RequestCounter:
    """Requests per key in the current fixed window, at most `limit` each."""

    def __init__(
        self,
        limit: int,
        window_s: float = WINDOW_S,
        max_keys: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}

    def take(self, key: str) -> tuple[bool, int, float]:
        """Count one request: (allowed, requests left in the window, seconds until it ends)."""
        now = self._clock()
        window = int(now // self.window_s)
        if window != self._window:
            self._window, self._counts = window, {}
        if key not in self._counts and len(self._counts) >= self.max_keys:
            key = _SHARED
        used = self._counts.get(key, 0)
        reset_s = (window + 1) * self.window_s - now
        if used >= self.limit:
            return False, 0, reset_s
        self._counts[key] = used + 1
        return True, self.limit - used - 1, reset_s


class RequestRateLimit:
    """ASGI middleware: over `per_minute` API requests from one address, 429 `rate_limited`."""

    def __init__(
        self,
        app: ASGIApp,
        per_minute: int,
        trusted_proxies: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.counter = RequestCounter(per_minute, clock=clock)
        self.proxies = parse_networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_limited(scope["path"]):
            await self.app(scope, receive, send)
            return
        peer = scope["client"][0] if scope.get("client") else None
        address = client_address(peer, Headers(scope=scope), self.proxies)
        allowed, remaining, reset_s = self.counter.take(address)
        reset = str(math.ceil(reset_s))
        headers = {
            "X-RateLimit-Limit": str(self.counter.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": reset,
        }
        if not allowed:
            message = (
                f"too many requests: at most {self.counter.limit} a minute from one address; "
                f"try again in {reset} s"
            )
            refusal = JSONResponse(
                error_body(429, message), 429, headers={**headers, "Retry-After": reset}
            )
            await refusal(scope, receive, send)
            return
        extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
