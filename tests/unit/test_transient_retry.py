"""A handling that failed for the infrastructure's sake runs again in place, and only then."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ResponseError

from services.common.bus import (
    BusUnavailable,
    Delivery,
    RetryScope,
    handle_delivery,
    retrying_transient,
)
from services.common.transient import infrastructure_failure

DELIVERY = Delivery(b"{}", "cmd.command", "m1", "m1", redelivered=False)


class Failing:
    """Raises the given errors on the first calls, then returns how many calls it took."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.calls


def scope(held: bool = True) -> tuple[RetryScope, list[BaseException]]:
    retried: list[BaseException] = []
    return RetryScope(infrastructure_failure, lambda: held, retried.append), retried


async def test_outside_a_delivery_it_runs_once() -> None:
    attempt = Failing(OutOfMemoryError("maxmemory"))
    with pytest.raises(OutOfMemoryError):
        await retrying_transient(attempt)
    assert attempt.calls == 1


async def test_inside_a_delivery_redis_and_broker_outages_are_waited_out() -> None:
    attempt = Failing(RedisConnectionError("down"), OutOfMemoryError("oom"), BusUnavailable("x"))
    retry, retried = scope()

    async def handler(delivery: Delivery) -> None:
        assert await retrying_transient(attempt) == 4

    await handle_delivery(handler, DELIVERY, retry)
    assert attempt.calls == 4 and len(retried) == 3


async def test_a_failure_of_the_message_is_not_retried() -> None:
    """A script error or a bug is the message's problem: the bus requeues or dead-letters it."""
    attempt = Failing(ResponseError("ERR script failed"))
    retry, retried = scope()

    async def handler(delivery: Delivery) -> None:
        await retrying_transient(attempt)

    with pytest.raises(ResponseError):
        await handle_delivery(handler, DELIVERY, retry)
    assert attempt.calls == 1 and retried == []


async def test_a_delivery_no_longer_held_stops_retrying() -> None:
    """The bus closing, or the channel lost (the broker put the message back)."""
    attempt = Failing(RedisConnectionError("down"), RedisConnectionError("down"))
    retry, _ = scope(held=False)

    async def handler(delivery: Delivery) -> None:
        await retrying_transient(attempt)

    with pytest.raises(RedisConnectionError):
        await handle_delivery(handler, DELIVERY, retry)
    assert attempt.calls == 1


async def test_a_last_delivery_is_not_set_aside_by_an_outage_it_waits_out() -> None:
    """On its last delivery a handling that meets a Redis outage runs again in place: it is not
    over (the orchestrator must not tell the sender "set aside"); a bug on it is."""
    last = Delivery(b"{}", "cmd.command", "m1", "m1", redelivered=True, last_attempt=True)
    retry, _ = scope()
    verdicts: list[bool] = []
    attempt = Failing(RedisConnectionError("down"), ResponseError("ERR a bug"))

    async def handler(delivery: Delivery) -> None:
        try:
            await attempt()
        except Exception as exc:
            verdicts.append(delivery.set_aside_by(exc))
            raise

    with pytest.raises(ResponseError):
        await handle_delivery(handler, last, retry)
    assert verdicts == [False, True]
    assert not DELIVERY.set_aside_by(ResponseError("ERR a bug"))  # not its last delivery


def test_redis_unable_to_persist_is_an_outage_not_the_messages_fault() -> None:
    """MISCONF (a full disk: writes refused until Redis can save again) is waited out in
    place, like maxmemory; a script's own error is not."""
    full_disk = ResponseError("MISCONF Errors writing to the AOF file: No space left on device")
    assert infrastructure_failure(full_disk)
    assert not infrastructure_failure(ResponseError("ERR Error running script: index nil"))
