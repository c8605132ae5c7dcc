"""Revoked sessions: their access tokens are refused everywhere until they would have expired."""

from __future__ import annotations

import contextlib
import time

from .store import Store, VersionConflict, Write

REVOKED_SESSION = "revoked_session"


class SessionRevocations:
    """The revocation list on the store: one entry per session, kept while its tokens live."""

    def __init__(self, store: Store, ttl_s: int = 3600) -> None:
        self._store = store
        self._ttl_s = ttl_s

    async def revoke(self, session_id: str) -> None:
        """Refuse every access token of the session from now on."""
        state = {"revoked_at": time.time()}
        with contextlib.suppress(VersionConflict):  # revoked already: nothing more to do
            await self._store.commit(
                [Write(REVOKED_SESSION, session_id, state, 0, ttl_s=self._ttl_s)]
            )

    async def is_revoked(self, session_id: str) -> bool:
        """True if the session was revoked (one store read: cheap enough per verification)."""
        return await self._store.get(REVOKED_SESSION, session_id) is not None
