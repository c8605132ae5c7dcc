"""Sessions: refresh-token families that rotate on every use, and their revocation.

A login opens a session (a family). Its refresh token works once: spending it yields the next
one. Only SHA-256 hashes of refresh tokens are stored (they are 256 random bits, so a slow
hash adds nothing). A spent token presented again means it was stolen or replayed: the whole
family is revoked, and with it every access token of the session and its open sockets.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from services.common.contracts import user_topic
from services.common.fanout import Fanout
from services.common.revocation import SessionRevocations
from services.common.signals import session_revoked
from services.common.store import Store, VersionConflict, Write

from .users import User

FAMILY = "refresh_family"
REFRESH = "refresh"
USER_SESSIONS = "user_sessions"
_RETRIES = 10


class RefreshRefused(Exception):
    """The refresh token does not buy a new pair; the message says why."""


@dataclass(frozen=True)
class Session:
    """What a refresh token stands for."""

    session_id: str
    user_id: str
    username: str


def token_hash(token: str) -> str:
    """The stored form of a refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Opens, rotates and revokes sessions."""

    def __init__(
        self,
        store: Store,
        fanout: Fanout,
        revocations: SessionRevocations,
        *,
        refresh_ttl_s: int,
        max_per_user: int,
    ) -> None:
        self._store = store
        self._fanout = fanout
        self._revocations = revocations
        self._ttl_s = refresh_ttl_s
        self._max_per_user = max_per_user

    async def open(self, user: User) -> tuple[str, str]:
        """A new session for the user: its id and its first refresh token."""
        session_id, token = uuid.uuid4().hex, secrets.token_urlsafe(32)
        now = time.time()
        family = {
            "user_id": user.id,
            "username": user.username,
            "revoked": False,
            "created_at": now,
            "expires_at": now + self._ttl_s,
        }
        await self._store.commit(
            [
                Write(FAMILY, session_id, family, 0, ttl_s=self._ttl_s),
                Write(
                    REFRESH,
                    token_hash(token),
                    {"session_id": session_id, "used": False},
                    0,
                    ttl_s=self._ttl_s,
                ),
            ]
        )
        for old in await self._remember(user.id, session_id, now + self._ttl_s):
            await self.revoke(old, user.id)
        return session_id, token

    async def rotate(self, token: str) -> tuple[Session, str]:
        """Spend a refresh token: its session and the next token. Reuse revokes the session."""
        record = await self._store.get(REFRESH, token_hash(token))
        if record is None:
            raise RefreshRefused("refresh token is invalid or expired")
        session_id = record.state["session_id"]
        family = await self._store.get(FAMILY, session_id)
        if family is None or family.state["revoked"]:
            raise RefreshRefused("the session has ended; log in again")
        session = Session(session_id, family.state["user_id"], family.state["username"])
        if record.state["used"]:
            await self.revoke(session_id, session.user_id)
            raise RefreshRefused("refresh token was already used; the session is revoked")
        remaining = int(family.state["expires_at"] - time.time())
        if remaining <= 0:
            raise RefreshRefused("the session has ended; log in again")
        new_token = secrets.token_urlsafe(32)
        try:
            await self._store.commit(
                [
                    Write(
                        REFRESH,
                        record.key,
                        {**record.state, "used": True},
                        record.version,
                        ttl_s=remaining,
                    ),
                    Write(
                        REFRESH,
                        token_hash(new_token),
                        {"session_id": session_id, "used": False},
                        0,
                        ttl_s=remaining,
                    ),
                    Write(
                        FAMILY,
                        session_id,
                        {**family.state, "rotated_at": time.time()},
                        family.version,
                        ttl_s=remaining,
                    ),
                ]
            )
        except VersionConflict as exc:
            # The same token was spent concurrently (or the session revoked meanwhile): reuse.
            await self.revoke(session_id, session.user_id)
            raise RefreshRefused("refresh token was already used; the session is revoked") from exc
        return session, new_token

    async def session_of(self, token: str) -> Session | None:
        """The live session a refresh token belongs to, without spending it."""
        record = await self._store.get(REFRESH, token_hash(token))
        if record is None:
            return None
        family = await self._store.get(FAMILY, record.state["session_id"])
        if family is None or family.state["revoked"]:
            return None
        return Session(family.key, family.state["user_id"], family.state["username"])

    async def revoke(self, session_id: str, user_id: str | None = None) -> None:
        """End a session: its refresh tokens, its access tokens, its open sockets."""
        for _ in range(_RETRIES):
            family = await self._store.get(FAMILY, session_id)
            if family is None or family.state["revoked"]:
                break
            user_id = user_id or family.state["user_id"]
            remaining = max(1, int(family.state["expires_at"] - time.time()))
            try:
                await self._store.commit(
                    [
                        Write(
                            FAMILY,
                            session_id,
                            {**family.state, "revoked": True},
                            family.version,
                            ttl_s=remaining,
                        )
                    ]
                )
                break
            except VersionConflict:
                continue
        await self._revocations.revoke(session_id)
        if user_id is not None:
            await self._fanout.publish(user_topic(user_id), session_revoked([session_id]))

    async def revoke_all(self, user_id: str) -> list[str]:
        """End every session of the user; return their ids."""
        entity = await self._store.get(USER_SESSIONS, user_id)
        session_ids = list(entity.state["sessions"]) if entity is not None else []
        for session_id in session_ids:
            await self.revoke(session_id, user_id)
        return session_ids

    async def _remember(self, user_id: str, session_id: str, expires_at: float) -> list[str]:
        """Add the session to the user's; return the oldest ones over the limit."""
        for _ in range(_RETRIES):
            entity = await self._store.get(USER_SESSIONS, user_id)
            now = time.time()
            known = {} if entity is None else dict(entity.state["sessions"])
            live = {sid: at for sid, at in known.items() if at > now}
            live[session_id] = expires_at
            ordered = sorted(live, key=live.__getitem__)
            over = ordered[: max(0, len(ordered) - self._max_per_user)]
            for sid in over:
                del live[sid]
            try:
                await self._store.commit(
                    [
                        Write(
                            USER_SESSIONS,
                            user_id,
                            {"sessions": live},
                            0 if entity is None else entity.version,
                        )
                    ]
                )
            except VersionConflict:
                continue
            return over
        return []
