"""Per-topic history with sequence numbers: the protocol and the in-process implementation."""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from .contracts import Position
from .fanout import Fanout
from .jsonutil import with_position

Entry = tuple[int, bytes]


class History(Protocol):
    """An append-only, bounded log per topic; `seq` grows by one per appended event."""

    async def append(self, topic: str, event_id: str, frame: bytes) -> Position:
        """Append once per `event_id` (a repeat returns the first position) and return it."""
        ...

    async def append_and_fan_out(
        self, topic: str, event_id: str, frame: bytes, fanout: Fanout
    ) -> Position:
        """`append`, then publish the frame with its `topic`, `seq` and `epoch` on `fanout`."""
        ...

    async def since(self, topic: str, after_seq: int, limit: int) -> list[Entry]:
        """Entries with `seq > after_seq`, oldest first, at most `limit`."""
        ...

    async def latest(self, topic: str, count: int) -> list[Entry]:
        """The last `count` entries, oldest first."""
        ...

    async def before(self, topic: str, before_seq: int | None, limit: int) -> list[Entry]:
        """Entries with `seq < before_seq` (all when None), newest first, at most `limit`."""
        ...

    async def position(self, topic: str) -> Position:
        """The topic's last `seq` (0 when empty) and its epoch."""
        ...

    async def ping(self) -> None:
        """Raise if the history backend is not reachable."""
        ...


def new_epoch() -> str:
    """A fresh epoch id: marks a history that was (re)started from nothing."""
    # 48 random bits, as the 12 first hex digits of a uuid4 were, without building a UUID.
    return os.urandom(6).hex()


async def append_then_publish(
    history: History, topic: str, event_id: str, frame: bytes, fanout: Fanout
) -> Position:
    """`append_and_fan_out` in two steps, for any history and fan-out."""
    position = await history.append(topic, event_id, frame)
    await fanout.publish(topic, with_position(frame, topic, position.seq, position.epoch))
    return position


@dataclass
class _Log:
    epoch: str
    seq: int = 0
    entries: deque[Entry] = field(default_factory=deque)
    ids: dict[str, int] = field(default_factory=dict)  # recent event ids, oldest first


class MemoryHistory:
    """History in process memory, bounded per topic like the Redis one."""

    def __init__(self, max_len: int = 10_000) -> None:
        self._max_len = max_len
        self._logs: dict[str, _Log] = {}

    def _log(self, topic: str) -> _Log:
        log = self._logs.get(topic)
        if log is None:
            log = self._logs[topic] = _Log(new_epoch())
        return log

    async def append(self, topic: str, event_id: str, frame: bytes) -> Position:
        log = self._log(topic)
        seen = log.ids.get(event_id)
        if seen is not None:
            return Position(seq=seen, epoch=log.epoch)
        log.seq += 1
        log.entries.append((log.seq, frame))
        log.ids[event_id] = log.seq
        while len(log.entries) > self._max_len:
            log.entries.popleft()
        while len(log.ids) > self._max_len:
            del log.ids[next(iter(log.ids))]
        return Position(seq=log.seq, epoch=log.epoch)

    async def append_and_fan_out(
        self, topic: str, event_id: str, frame: bytes, fanout: Fanout
    ) -> Position:
        return await append_then_publish(self, topic, event_id, frame, fanout)

    async def since(self, topic: str, after_seq: int, limit: int) -> list[Entry]:
        entries = self._log(topic).entries
        return [entry for entry in entries if entry[0] > after_seq][:limit]

    async def latest(self, topic: str, count: int) -> list[Entry]:
        entries = self._log(topic).entries
        return list(entries)[-count:] if count > 0 else []

    async def before(self, topic: str, before_seq: int | None, limit: int) -> list[Entry]:
        entries = reversed(self._log(topic).entries)
        return [e for e in entries if before_seq is None or e[0] < before_seq][:limit]

    async def position(self, topic: str) -> Position:
        log = self._log(topic)
        return Position(seq=log.seq, epoch=log.epoch)

    async def ping(self) -> None:
        return None
