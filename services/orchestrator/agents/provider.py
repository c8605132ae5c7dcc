"""Where agent work comes from: the provider protocol and what goes in and out of it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

# The TDD cycle of a sprint task, in order, and the agent that does each phase.
PHASES = ("DESIGN", "TEST_RED", "CODE_GREEN", "REFACTOR", "COMMIT")
PHASE_AGENT = {
    "DESIGN": "DesignAgent",
    "TEST_RED": "QAAgent",
    "CODE_GREEN": "CodeAgent",
    "REFACTOR": "CodeAgent",
    "COMMIT": "CodeAgent",
}


# Code phases of data work (schemas, migrations, pipelines, reports) go to the DataAgent.
_DATA_WORK = re.compile(
    r"\b(data|database|schema|migration|sql|etl|pipeline|analytics|report)s?\b", re.IGNORECASE
)


def agent_for(phase: str, story_title: str) -> str:
    """The agent that does `phase` of a task about `story_title`."""
    agent = PHASE_AGENT[phase]
    if agent == "CodeAgent" and _DATA_WORK.search(story_title):
        return "DataAgent"
    return agent


@dataclass(frozen=True)
class StoryProposal:
    """A story the DesignAgent proposes for an epic."""

    title: str
    description: str
    acceptance_criteria: list[str]
    priority: int = 3


@dataclass(frozen=True)
class PhaseRequest:
    """One phase of one task, with what earlier phases produced."""

    project_id: str
    task_id: str
    story_title: str
    story_description: str
    acceptance_criteria: list[str]
    phase: str
    agent: str
    attempt: int
    hint: str | None = None
    previous_outputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PhaseResult:
    """What a phase produced, or why it failed."""

    ok: bool
    output: str
    error: str | None = None


# Called with the phase's progress in percent (0-100) as the work goes on.
Progress = Callable[[int], Awaitable[None]]


class AgentProvider(Protocol):
    """Does the agents' work. Errors and timeouts come back as failures, never as hangs."""

    async def propose_stories(self, epic_title: str) -> list[StoryProposal]:
        """The DesignAgent's stories for an epic (raise `ProviderError` if it cannot)."""
        ...

    async def run_phase(self, request: PhaseRequest, progress: Progress) -> PhaseResult:
        """Do one TDD phase of a task."""
        ...

    async def reply(self, agent: str, message: str, context: dict[str, object]) -> str:
        """An agent's answer to a direct message (raise `ProviderError` if it cannot)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class ProviderError(Exception):
    """The provider could not do the work (unreachable, timed out, nonsense answer)."""
