"""Presence: who is in each channel, a user with several tabs once, a dead gateway's soon gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter as Tally

from services.common.contracts import channel_topic
from services.common.fanout import Fanout
from services.common.jsonutil import server_frame
from services.common.presence import Presence

log = logging.getLogger(__name__)

Channel = tuple[str, str]  # (project_id, channel)


class PresenceTracker:
    """This gateway's share of presence, kept alive in the shared store and announced."""

    def __init__(self, presence: Presence, fanout: Fanout, gateway_id: str, ttl_s: float) -> None:
        self._presence = presence
        self._fanout = fanout
        self._gateway_id = gateway_id
        self._ttl_s = ttl_s
        self._local: dict[Channel, Tally[tuple[str, str]]] = {}
        self._announced: dict[Channel, list[dict[str, str]]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._renew_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _member(self, user_id: str, username: str) -> str:
        return f"{self._gateway_id}|{user_id}|{username}"

    async def joined(self, channel: Channel, user_id: str, username: str) -> bytes | None:
        """A socket of this user joined the channel.

        Returns the channel's list for that socket alone when the channel was not told.
        """
        tally = self._local.setdefault(channel, Tally())
        tally[(user_id, username)] += 1
        if tally[(user_id, username)] == 1:
            key = channel_topic(*channel)
            await self._presence.touch(key, [self._member(user_id, username)], self._ttl_s)
            await self._announce(channel)
            return None
        # Another socket of a user already here changes nothing for the others: announcing it
        # to the whole channel made N joins cost N² deliveries.
        frame, _ = await self._announce(channel, publish=False)
        return frame

    async def left(self, channel: Channel, user_id: str, username: str) -> None:
        """A socket of this user left the channel (or closed)."""
        tally = self._local.get(channel)
        if tally is None or tally[(user_id, username)] == 0:
            return
        tally[(user_id, username)] -= 1
        if tally[(user_id, username)] == 0:
            del tally[(user_id, username)]
            key = channel_topic(*channel)
            await self._presence.leave(key, self._member(user_id, username))
            await self._announce(channel)
            # Others may have left (or joined) during the awaits: forget the channel only if
            # this tally is still its tally and still empty.
            if not tally and self._local.get(channel) is tally:
                del self._local[channel]
            if channel not in self._local:
                self._announced.pop(channel, None)

    async def _announce(
        self, channel: Channel, only_if_changed: bool = False, publish: bool = True
    ) -> tuple[bytes, bool]:
        """Build the channel's presence frame; publish it unless unchanged; (frame, published)."""
        key = channel_topic(*channel)
        users: dict[str, str] = {}
        for member in await self._presence.members(key):
            _, user_id, username = member.split("|", 2)
            users[user_id] = username
        listed = [{"id": uid, "username": name} for uid, name in sorted(users.items())]
        project_id, name = channel
        frame = server_frame(
            "presence", {"project_id": project_id, "channel": name, "users": listed}
        )
        if not publish or (only_if_changed and self._announced.get(channel) == listed):
            return frame, False
        self._announced[channel] = listed
        await self._fanout.publish(key, frame)
        return frame, True

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_s / 3)
            for channel, tally in list(self._local.items()):
                try:
                    members = [self._member(uid, name) for uid, name in tally]
                    await self._presence.touch(channel_topic(*channel), members, self._ttl_s)
                    # Entries of a gateway that died expire: tell the channel when they go.
                    await self._announce(channel, only_if_changed=True)
                except Exception:
                    log.exception("renewing presence of %s failed", channel)
