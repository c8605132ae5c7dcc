"""Where agent work comes from: the provider protocol and what goes in and out of it."""

from __future__ import annotations

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
