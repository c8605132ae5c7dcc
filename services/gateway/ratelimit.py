"""A token bucket per socket, and the strikes that get an abusive socket closed."""

from __future__ import annotations

import time
from collections import deque


class TokenBucket:
    """`rate` tokens per second up to `burst`; each frame takes one."""

    __slots__ = ("_at", "_burst", "_max_strikes", "_rate", "_strikes", "_tokens", "_window_s")

    def __init__(self, rate: float, burst: int, strikes: int, window_s: float = 10.0) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._strikes: deque[float] | None = None  # made at the first refusal
        self._max_strikes = strikes
        self._window_s = window_s

    def take(self) -> bool:
        """Take a token; False when the socket is over its rate."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        if self._strikes is None:
            self._strikes = deque()
        self._strikes.append(now)
        return False

    def abusive(self) -> bool:
        """True once `strikes` refusals fell within the window."""
        strikes = self._strikes
        if strikes is None:
            return False
        cutoff = time.monotonic() - self._window_s
        while strikes and strikes[0] < cutoff:
            strikes.popleft()
        return len(strikes) >= self._max_strikes


class AddressLimiter:
    """A token bucket per client address, for new connections; idle addresses are forgotten.

    Per gateway process: behind a load balancer each gateway sees its share of an address.
    """

    def __init__(self, rate: float, burst: int, max_addresses: int) -> None:
        self._rate = rate
        self._burst = burst
        self._max = max_addresses
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def allow(self, address: str) -> bool:
        """Take a token for a connection from `address`; False when it is over its rate."""
        now = time.monotonic()
        tokens, at = self._buckets.pop(address, (float(self._burst), now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        allowed = tokens >= 1
        self._buckets[address] = (tokens - 1 if allowed else tokens, now)  # newest last
        while len(self._buckets) > self._max:
            # Dicts keep insertion order and `allow` re-inserts: the first is the least recent.
            del self._buckets[next(iter(self._buckets))]
        return allowed
