"""Login throttling per username and per client address, with exponential back-off.

Each key may fail a number of times for free; every failure after that locks the key for
`base * 2**k` seconds (k = failures over the free ones, minus one), up to a maximum. While a
key is locked, logins are refused with 429 before the password is even looked at, so a guesser
learns nothing. The counts live in the store (shared by every auth instance) and are forgotten
after a quiet window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.common.store import Store, VersionConflict, Write

FAILURES = "login_failures"
_RETRIES = 5


@dataclass(frozen=True)
class Policy:
    """How many failures are free, and how the lock-out grows."""

    free: int
    base_s: float
    max_s: float
    window_s: int

    def lock_s(self, failures: int) -> float:
        """How long a key with this many failures stays locked after the last one."""
        over = failures - self.free
        if over <= 0:
            return 0.0
        return float(min(self.max_s, self.base_s * 2 ** min(over - 1, 40)))


class LoginThrottle:
    """Counts failed logins by username and by address, and says how long to wait."""

    def __init__(self, store: Store, per_user: Policy, per_address: Policy) -> None:
        self._store = store
        self._policies = {"user": per_user, "address": per_address}

    async def retry_after(self, username: str, address: str) -> float:
        """Seconds until a login for this user from this address is considered; 0: now."""
        waits = [0.0]
        for key in (f"user:{username}", f"address:{address}"):
            entity = await self._store.get(FAILURES, key)
            if entity is not None:
                waits.append(entity.state["locked_until"] - time.time())
        return max(waits)

    async def failed(self, username: str, address: str) -> None:
        """Count a failure against the user and the address."""
        await self._count(f"user:{username}", self._policies["user"])
        await self._count(f"address:{address}", self._policies["address"])

    async def succeeded(self, username: str) -> None:
        """The user got in: their count starts over (the address's does not)."""
        await self._store.delete(FAILURES, f"user:{username}")

    async def _count(self, key: str, policy: Policy) -> None:
        for _ in range(_RETRIES):
            entity = await self._store.get(FAILURES, key)
            failures = 1 if entity is None else entity.state["failures"] + 1
            now = time.time()
            state = {"failures": failures, "locked_until": now + policy.lock_s(failures)}
            ttl = max(policy.window_s, int(policy.lock_s(failures)) + 1)
            try:
                await self._store.commit(
                    [
                        Write(
                            FAILURES, key, state, 0 if entity is None else entity.version, ttl_s=ttl
                        )
                    ]
                )
                return
            except VersionConflict:
                continue  # a concurrent failure was counted first; count this one on top
