"""Settings of the sync service."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class SyncSettings(CommonSettings):
    """History limits."""

    # Events kept per topic (Redis Streams MAXLEN ~); older ones can no longer be replayed.
    history_max_len: int = Field(default=10_000, ge=100)
    # Largest page of `GET /api/messages`.
    max_page: int = Field(default=200, ge=1, le=1000)
