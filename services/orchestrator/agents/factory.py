"""Choosing the agent provider from settings."""

from __future__ import annotations

from ..settings import OrchestratorSettings
from .openai import OpenAIProvider
from .provider import AgentProvider
from .scripted import ScriptedProvider


def build_provider(settings: OrchestratorSettings) -> AgentProvider:
    """The provider `HUDDLE_AGENT_PROVIDER` names."""
    if settings.agent_provider == "openai":
        key = (
            None if settings.openai_api_key is None else settings.openai_api_key.get_secret_value()
        )
        return OpenAIProvider(
            settings.openai_base_url,
            key,
            settings.openai_model,
            timeout_s=settings.openai_timeout_s,
        )
    return ScriptedProvider(settings.scripted_phase_s, settings.scripted_failure_rate)
