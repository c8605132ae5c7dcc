"""Users and refresh tokens on the store; passwords hashed with argon2 off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.store import Store, VersionConflict, Write

USER = "user"
REFRESH = "refresh"
_hasher = PasswordHasher()
# Verified against when the user does not exist, so both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class User:
    """A stored user."""

    id: str
    username: str
    roles: list[str]


@dataclass(frozen=True)
class RefreshSession:
    """What a refresh token stands for."""

    user: User
    session_id: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    """User accounts and refresh tokens."""

    def __init__(self, store: Store, *, refresh_ttl_s: int) -> None:
        self._store = store
        self._refresh_ttl_s = refresh_ttl_s

    async def create(self, username: str, password: str, roles: list[str]) -> User:
        """Create a user; raise `VersionConflict` if the name is taken."""
        password_hash = await asyncio.to_thread(_hasher.hash, password)
        user = User(id=f"u-{uuid.uuid4().hex[:12]}", username=username, roles=roles)
        state = {"id": user.id, "username": username, "roles": roles, "password": password_hash}
        await self._store.commit([Write(USER, username, state, expected_version=0)])
        return user

    async def ensure(self, username: str, password: str, roles: list[str]) -> None:
        """Create the user unless it exists (another instance may be doing the same)."""
        if await self._store.get(USER, username) is None:
            with contextlib.suppress(VersionConflict):
                await self.create(username, password, roles)

    async def get(self, username: str) -> User | None:
        """The user with this name, or None."""
        entity = await self._store.get(USER, username)
        if entity is None:
            return None
        return User(entity.state["id"], entity.state["username"], list(entity.state["roles"]))

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches, else None, in the same time either way."""
        entity = await self._store.get(USER, username)
        stored = _DUMMY_HASH if entity is None else entity.state["password"]
        try:
            await asyncio.to_thread(_hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if entity is None:
            return None
        return User(entity.state["id"], entity.state["username"], list(entity.state["roles"]))

    async def issue_refresh(self, user: User, session_id: str) -> str:
        """A new opaque refresh token for a session; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        state = {"user": user.__dict__, "session_id": session_id, "used": False}
        await self._store.commit(
            [Write(REFRESH, _token_hash(token), state, 0, ttl_s=self._refresh_ttl_s)]
        )
        return token

    async def rotate_refresh(self, token: str) -> tuple[RefreshSession, str] | None:
        """Spend a refresh token once and return its session with a new token, else None."""
        key = _token_hash(token)
        entity = await self._store.get(REFRESH, key)
        if entity is None or entity.state["used"]:
            return None
        session = RefreshSession(User(**entity.state["user"]), entity.state["session_id"])
        new_token = secrets.token_urlsafe(32)
        fresh = {"user": entity.state["user"], "session_id": session.session_id, "used": False}
        spent = {**entity.state, "used": True}
        try:
            await self._store.commit(
                [
                    Write(REFRESH, key, spent, entity.version, ttl_s=self._refresh_ttl_s),
                    Write(REFRESH, _token_hash(new_token), fresh, 0, ttl_s=self._refresh_ttl_s),
                ]
            )
        except VersionConflict:
            return None
        return session, new_token
