"""Settings of the orchestrator."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from services.common.settings import CommonSettings


class OrchestratorSettings(CommonSettings):
    """The domain's limits and where agent work comes from."""

    # Retries of a command whose entities changed under it before it is requeued.
    conflict_retries: int = Field(default=5, ge=1, le=100)
    agent_provider: Literal["scripted", "openai"] = "scripted"
    # Agent phases running at once in one orchestrator process (the agent pool).
    agent_pool_size: int = Field(default=4, ge=1, le=256)
    # Channels a project may have (`/channel create`), #general included.
    max_channels_per_project: int = Field(default=20, ge=1, le=500)
    # Consecutive failed attempts of a phase before the project is BLOCKED.
    task_max_failures: int = Field(default=3, ge=1, le=100)
    scripted_phase_s: float = Field(default=2.0, ge=0, le=3600)
    scripted_failure_rate: float = Field(default=0.0, ge=0, le=1)
    openai_base_url: str = "http://127.0.0.1:11434/v1"
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    # Log lines kept in memory for `/logs`.
    log_buffer_lines: int = Field(default=200, ge=10, le=10_000)
