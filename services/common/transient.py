"""Which failures are the infrastructure's (Redis or the broker unavailable), not a message's.

A consumer runs a handling that failed this way again in place (`bus.retrying_transient`)
instead of returning the message to its queue, where each return spends one of its delivery
attempts: a Redis outage of a minute, or a Redis out of memory, would otherwise dead-letter
every command and event in flight.
"""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError, TryAgainError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .bus import broker_unavailable

# Unreachable, timing out, loading its data (a ConnectionError), a replica promoted late
# (read-only), out of memory (`maxmemory` with no eviction), or asking to try again.
_REDIS_UNAVAILABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    OutOfMemoryError,
    TryAgainError,
)


def redis_unavailable(exc: BaseException) -> bool:
    """True when Redis cannot serve for now (not for an error of the command or script)."""
    if isinstance(exc, _REDIS_UNAVAILABLE):
        return True
    # MISCONF: it cannot persist (a full disk) and refuses writes until it can: an outage to
    # wait out like maxmemory, not the message's fault. redis-py has no class of its own for it.
    return isinstance(exc, ResponseError) and "MISCONF " in str(exc)


def infrastructure_failure(exc: BaseException) -> bool:
    """True when the broker did not take a publish or Redis cannot serve for now."""
    return broker_unavailable(exc) or redis_unavailable(exc)
