"""The scripted provider: deterministic simulated agents for demos and tests."""

from __future__ import annotations

import asyncio
import hashlib

from .provider import PhaseRequest, PhaseResult, Progress, StoryProposal

_STORY_TEMPLATES = (
    ("Design the data model for {epic}", 2),
    ("Implement the core of {epic}", 1),
    ("Test {epic} end to end", 3),
)

_PHASE_OUTPUT = {
    "DESIGN": "Design for '{story}': components, interfaces and the acceptance tests to write.",
    "TEST_RED": "Wrote failing tests for '{story}': {criteria} (red as expected).",
    "CODE_GREEN": "Implemented '{story}'; all tests pass (green).",
    "REFACTOR": "Refactored '{story}': smaller functions, clearer names, tests still green.",
    "COMMIT": "Committed '{story}' with message \"feat: {story}\".",
}


def _chance(*parts: object) -> float:
    """A number in [0, 1) that depends only on `parts`: the same input, the same outcome."""
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class ScriptedProvider:
    """Takes `phase_s` per phase and fails an attempt with probability `failure_rate`.

    Outcomes depend only on (task, phase, attempt), so a run can be repeated exactly. A hint
    from `/suggest_fix` always makes the next attempt succeed.
    """

    def __init__(self, phase_s: float = 2.0, failure_rate: float = 0.0, ticks: int = 4) -> None:
        self._phase_s = phase_s
        self._failure_rate = failure_rate
        self._ticks = max(1, ticks)

    async def propose_stories(self, epic_title: str) -> list[StoryProposal]:
        await asyncio.sleep(self._phase_s / 2)
        return [
            StoryProposal(
                title=template.format(epic=epic_title),
                description=f"As a user I want {epic_title.lower()} to work well.",
                acceptance_criteria=[
                    f"{epic_title}: the main case works",
                    f"{epic_title}: errors are explained",
                ],
                priority=priority,
            )
            for template, priority in _STORY_TEMPLATES
        ]

    async def run_phase(self, request: PhaseRequest, progress: Progress) -> PhaseResult:
        for tick in range(1, self._ticks + 1):
            await asyncio.sleep(self._phase_s / self._ticks)
            if tick < self._ticks:
                await progress(100 * tick // self._ticks)
        fails = _chance(request.task_id, request.phase, request.attempt) < self._failure_rate
        if fails and request.hint is None:
            return PhaseResult(
                ok=False,
                output="",
                error=f"{request.agent} failed {request.phase} (attempt {request.attempt + 1})",
            )
        template = _PHASE_OUTPUT.get(request.phase, "{story}: done.")
        criteria = "; ".join(request.acceptance_criteria) or "the acceptance criteria"
        output = template.format(story=request.story_title, criteria=criteria)
        if request.hint:
            output += f" (applied hint: {request.hint})"
        return PhaseResult(ok=True, output=output)

    async def reply(self, agent: str, message: str, context: dict[str, object]) -> str:
        await asyncio.sleep(min(self._phase_s, 0.5))
        return f"{agent} here. Noted: {message!r}. I will take it into account in my next task."

    async def aclose(self) -> None:
        return None
