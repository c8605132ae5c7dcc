"""Settings of the orchestrator."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class OrchestratorSettings(CommonSettings):
    """The domain's limits."""

    # Retries of a command whose entities changed under it before it is requeued.
    conflict_retries: int = Field(default=5, ge=1, le=100)
