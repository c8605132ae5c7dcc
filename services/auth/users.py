"""User accounts on the store; passwords hashed with argon2 off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.store import Entity, Store, VersionConflict, Write

USER = "user"
# user id -> username, so that the admin API can address users by id.
USER_ID = "user_id"
ROLES = ("admin", "member")
_hasher = PasswordHasher()
# Verified against when the user does not exist, so both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class User:
    """A stored user."""

    id: str
    username: str
    roles: list[str]


def _user(entity: Entity) -> User:
    state = entity.state
    return User(state["id"], state["username"], list(state["roles"]))


class Users:
    """User accounts: names, password hashes, roles."""

    def __init__(self, store: Store, *, refresh_ttl_s: int | None = None) -> None:
        # `refresh_ttl_s` is accepted for older callers; refresh tokens live in `Sessions`.
        self._store = store

    async def create(self, username: str, password: str, roles: list[str]) -> User:
        """Create a user; raise `VersionConflict` if the name is taken."""
        password_hash = await asyncio.to_thread(_hasher.hash, password)
        user = User(id=f"u-{uuid.uuid4().hex[:12]}", username=username, roles=roles)
        state = {
            "id": user.id,
            "username": username,
            "roles": roles,
            "password": password_hash,
            "created_at": time.time(),
        }
        await self._store.commit(
            [
                Write(USER, username, state, expected_version=0),
                Write(USER_ID, user.id, {"username": username}, expected_version=0),
            ]
        )
        return user

    async def ensure(self, username: str, password: str, roles: list[str]) -> None:
        """Create the user unless it exists (another instance may be doing the same)."""
        if await self._store.get(USER, username) is None:
            with contextlib.suppress(VersionConflict):
                await self.create(username, password, roles)

    async def get(self, username: str) -> User | None:
        """The user with this name, or None."""
        entity = await self._store.get(USER, username)
        return None if entity is None else _user(entity)

    async def by_id(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        index = await self._store.get(USER_ID, user_id)
        if index is not None:
            return await self.get(index.state["username"])
        # Users created before the index existed: look through them all (rare, admin only).
        return next((user for user in await self.all() if user.id == user_id), None)

    async def all(self) -> list[User]:
        """Every user, by name."""
        return [_user(entity) for entity in await self._store.all(USER)]

    async def set_roles(self, user_id: str, roles: list[str]) -> User | None:
        """Replace a user's roles; None if there is no such user."""
        user = await self.by_id(user_id)
        if user is None:
            return None
        for _ in range(10):
            entity = await self._store.get(USER, user.username)
            if entity is None:
                return None
            try:
                await self._store.commit(
                    [Write(USER, user.username, {**entity.state, "roles": roles}, entity.version)]
                )
            except VersionConflict:
                continue
            return User(user.id, user.username, roles)
        raise RuntimeError(f"user {user_id} kept changing")

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches, else None, in the same time either way."""
        entity = await self._store.get(USER, username)
        stored = _DUMMY_HASH if entity is None else entity.state["password"]
        try:
            await asyncio.to_thread(_hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return None if entity is None else _user(entity)
