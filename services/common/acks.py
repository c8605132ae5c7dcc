"""Acks of one consumer channel, sent together: one `basic.ack multiple` covers a finished run.

A message is acked only after its handler succeeded. A `multiple` ack up to tag T is sent only
when every delivery tag up to T on that channel is known to be settled (acked-to-be, or already
rejected on its own): a message still being handled is never covered by a later one's ack.
Tags on one AMQP channel are consecutive from 1, so a gap means a delivery still in hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

log = logging.getLogger(__name__)


class Ackable(Protocol):
    """The part of an incoming message the batcher uses."""

    @property
    def delivery_tag(self) -> int | None: ...

    async def ack(self, multiple: bool = False) -> None: ...


class ChannelAcks:
    """The settled-but-unacked deliveries of one channel; `flush` acks them in as few frames."""

    def __init__(self, max_gap: int) -> None:
        self._acked_upto = 0  # every tag up to here is settled and acked (or rejected)
        self._finished: dict[int, Ackable] = {}  # succeeded, not acked yet
        self._settled: set[int] = set()  # beyond the run: rejected, or acked on their own
        self._waited: set[int] = set()  # finished beyond a gap at the last flush already
        self._max_gap = max_gap
        self._batching = True

    @property
    def pending(self) -> int:
        """Messages that succeeded and wait for their ack."""
        return len(self._finished)

    def settled(self, tag: int) -> None:
        """A delivery rejected or nacked on its own: it no longer holds a run back."""
        if tag > self._acked_upto:
            self._settled.add(tag)

    def finished(self, message: Ackable) -> None:
        """A delivery whose handler succeeded: ack it at the next flush."""
        if message.delivery_tag is not None:
            self._finished[message.delivery_tag] = message

    async def flush(self, everything: bool = False) -> int:
        """Send the acks due (`everything`: all that succeeded); return the frames sent."""
        frames = 0
        last_ok: Ackable | None = None
        tag = self._acked_upto + 1
        while self._batching and (tag in self._finished or tag in self._settled):
            if tag in self._finished:
                last_ok = self._finished.pop(tag)
            self._settled.discard(tag)
            self._acked_upto = tag
            tag += 1
        if last_ok is not None:
            await last_ok.ack(multiple=True)
            frames += 1
        # Past a gap (a delivery still in hand): one more flush for the gap to close, then each
        # on its own, so none waits long for a slow neighbour.
        overdue = sorted(t for t in self._finished if everything or t in self._waited)
        self._waited = set(self._finished) - set(overdue)
        for tag in overdue:
            message = self._finished.pop(tag)
            self._settled.add(tag)
            await message.ack()
            frames += 1
        if len(self._settled) > self._max_gap:
            # A tag that never settles (not ours to see): stop batching on this channel rather
            # than keep every later tag in memory.
            self._batching = False
            self._settled.clear()
        return frames


class AckBatcher:
    """Per channel `ChannelAcks`, flushed `delay_s` after a batch's first ack, or when full."""

    def __init__(self, delay_s: float, max_batch: int) -> None:
        self._delay_s = delay_s
        self._max_batch = max(1, max_batch)
        self._channels: dict[object, ChannelAcks] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        # One flush at a time: two could otherwise ack one tag twice (a channel error).
        self._lock = asyncio.Lock()

    def _acks(self, channel: object) -> ChannelAcks:
        acks = self._channels.get(channel)
        if acks is None:
            acks = self._channels[channel] = ChannelAcks(max_gap=64 * self._max_batch)
        return acks

    def settled(self, channel: object, tag: int | None) -> None:
        """A delivery rejected or nacked on its own."""
        if tag is not None:
            self._acks(channel).settled(tag)

    def finished(self, channel: object, message: Ackable) -> None:
        """A delivery handled successfully: acked within `delay_s`."""
        acks = self._acks(channel)
        acks.finished(message)
        if acks.pending >= self._max_batch:
            self._start_flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay_s, self._start_flush)

    def _start_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task = asyncio.ensure_future(self.flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def flush(self, everything: bool = False) -> None:
        """Send every ack due now, on every channel (`everything`: all that succeeded)."""
        async with self._lock:
            await self._flush_all(everything)
        if any(acks.pending for acks in self._channels.values()) and self._timer is None:
            # Held back by a gap: look again after another delay.
            self._timer = asyncio.get_running_loop().call_later(self._delay_s, self._start_flush)

    async def _flush_all(self, everything: bool) -> None:
        for channel, acks in list(self._channels.items()):
            if getattr(channel, "is_closed", False):
                # Its deliveries go back to the queue with the channel; its tags mean nothing now.
                del self._channels[channel]
                continue
            try:
                await acks.flush(everything)
            except Exception as exc:
                log.warning("acks not sent (the broker will redeliver): %r", exc)
                self._channels.pop(channel, None)

    async def close(self) -> None:
        """Wait for flushes in progress, then ack everything that succeeded."""
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.flush(everything=True)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
