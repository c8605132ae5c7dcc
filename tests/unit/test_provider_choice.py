"""`HUDDLE_AGENT_PROVIDER` picks the provider."""

from __future__ import annotations

from services.orchestrator.agents.factory import build_provider
from services.orchestrator.agents.openai import OpenAIProvider
from services.orchestrator.agents.scripted import ScriptedProvider
from services.orchestrator.settings import OrchestratorSettings


async def test_scripted_is_the_default() -> None:
    provider = build_provider(OrchestratorSettings())
    assert isinstance(provider, ScriptedProvider)
    await provider.aclose()


async def test_openai_is_built_from_its_settings() -> None:
    settings = OrchestratorSettings(
        agent_provider="openai", openai_base_url="http://127.0.0.1:9/v1", openai_model="m"
    )
    provider = build_provider(settings)
    assert isinstance(provider, OpenAIProvider)
    await provider.aclose()
