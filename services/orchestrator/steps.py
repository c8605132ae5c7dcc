"""Agent work: the slow part (the provider) first, then a decision that can be retried."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.common.access import PROJECT, can_access
from services.common.contracts import CommandEnvelope, DomainEvent, StepEnvelope, project_topic
from services.common.store import Store

from .agents.provider import (
    AgentProvider,
    PhaseRequest,
    PhaseResult,
    ProviderError,
    StoryProposal,
    agent_for,
)
from .context import Context, button, status_event
from .flow import (
    apply_result,
    load_sprint,
    overall_progress,
    park,
    save_sprint_and_project,
    step_for,
)
from .model import BACKLOG, new_backlog, new_story
from .unit import Unit

Publish = Callable[[list[DomainEvent]], Awaitable[None]]


@dataclass(frozen=True)
class Park:
    """The sprint was paused before the phase began: stop here, run nothing."""


Work = PhaseResult | Park | list[StoryProposal] | ProviderError | str


class AgentWork:
    """Runs steps and agent messages against the provider, within the pool's limit."""

    def __init__(
        self,
        store: Store,
        provider: AgentProvider,
        pool_size: int,
        max_failures: int,
        publish: Publish,
    ) -> None:
        self._store = store
        self._provider = provider
        self._pool = asyncio.Semaphore(pool_size)
        self.pool_size = pool_size
        self._max_failures = max_failures
        self._publish = publish
        self.busy = 0

    async def _with_pool(self, work: Awaitable[Any]) -> Any:
        async with self._pool:
            self.busy += 1
            try:
                return await work
            finally:
                self.busy -= 1

    # --- steps ---------------------------------------------------------------------------------

    async def prepare(self, step: StepEnvelope) -> Work | None:
        """Do the slow work of a step; None when the step is stale (already superseded)."""
        if step.kind == "propose_stories":
            try:
                proposals: list[StoryProposal] = await self._with_pool(
                    self._provider.propose_stories(await self._epic_title(step))
                )
                return proposals
            except ProviderError as exc:
                return exc
        ctx = Context(step.step_id, Unit(self._store))
        found = await self._current(ctx, step)
        if found is None:
            return None
        project, sprint, task = found
        if sprint["status"] == "paused":
            return Park()
        request = PhaseRequest(
            project_id=project["id"],
            task_id=f"{project['id']}:{sprint['id']}:{task['id']}",
            story_title=task["title"],
            story_description=task["description"],
            acceptance_criteria=list(task["acceptance_criteria"]),
            phase=task["phase"],
            agent=agent_for(task["phase"], task["title"]),
            attempt=task["attempts"],
            hint=task["hint"],
            previous_outputs=dict(task["outputs"]),
        )
        ticks = 0

        async def progress(percent: int) -> None:
            nonlocal ticks
            ticks += 1
            base = {
                "id": f"{step.step_id}:p{ticks}",
                "topic": project_topic(project["id"]),
                "correlation_id": step.step_id,
                "occurred_at": time.time(),
            }
            await self._publish(
                [
                    status_event(
                        base,
                        project["id"],
                        request.agent,
                        "working",
                        task["id"],
                        task["phase"],
                        overall_progress(task["phase"], percent),
                    )
                ]
            )

        result: PhaseResult = await self._with_pool(self._provider.run_phase(request, progress))
        return result

    async def decide(self, step: StepEnvelope, work: Work) -> Context:
        """Apply prepared work to the current state (may run again after a conflict)."""
        ctx = Context(step.step_id, Unit(self._store))
        if step.kind == "propose_stories":
            await self._proposals(ctx, step, work)
            return ctx
        found = await self._current(ctx, step)
        if found is None:
            return ctx  # superseded while the provider worked: nothing to apply
        project, sprint, task = found
        if isinstance(work, Park):
            park(task, task["phase"])
            await ctx.set_agent(
                project["id"],
                agent_for(task["phase"], task["title"]),
                "paused",
                task=task["id"],
                phase=task["phase"],
            )
        else:
            assert isinstance(work, PhaseResult)
            await apply_result(ctx, project, sprint, task, work, self._max_failures)
        save_sprint_and_project(ctx, project, sprint)
        return ctx

    async def _current(
        self, ctx: Context, step: StepEnvelope
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
        project = await ctx.unit.get(PROJECT, step.project_id)
        if project is None or project.get("active_sprint") != step.sprint_id:
            return None
        sprint = await load_sprint(ctx, project)
        task = (
            None
            if sprint is None
            else next((t for t in sprint["tasks"] if t["id"] == step.task_id), None)
        )
        if sprint is None or task is None or task["status"] != "running":
            return None
        if step_for(project["id"], sprint["id"], task).step_id != step.step_id:
            return None
        return project, sprint, task

    async def _epic_title(self, step: StepEnvelope) -> str:
        backlog = await self._store.get(BACKLOG, step.project_id)
        epics = [] if backlog is None else backlog.state["epics"]
        epic = next((e for e in epics if e["id"] == step.epic_id), None)
        return "" if epic is None else str(epic["title"])

    async def _proposals(self, ctx: Context, step: StepEnvelope, work: Work) -> None:
        project = await ctx.unit.get(PROJECT, step.project_id)
        if project is None:
            return
        if not isinstance(work, list):
            ctx.agent_says(
                project["id"],
                "DesignAgent",
                f"I could not propose stories for {step.epic_id}: {work}. "
                'Add them yourself with /backlog add_story "<title>".',
            )
            await ctx.set_agent(project["id"], "DesignAgent", "idle")
            return
        backlog = await ctx.unit.get(BACKLOG, project["id"]) or new_backlog()
        epic = next((e for e in backlog["epics"] if e["id"] == step.epic_id), None)
        stories = []
        for proposal in work:
            project["story_seq"] += 1
            story = new_story(
                f"S{project['story_seq']}",
                proposal.title,
                epic_id=step.epic_id,
                description=proposal.description,
                criteria=proposal.acceptance_criteria,
                priority=proposal.priority,
                status="proposed",
            )
            stories.append(story)
            backlog["stories"].append(story)
            if epic is not None:
                epic["stories"].append(story["id"])
        ctx.unit.put(BACKLOG, project["id"], backlog)
        ctx.unit.put(PROJECT, project["id"], project)
        lines = [f"{s['id']} [P{s['priority']}] {s['title']}" for s in stories]
        ctx.agent_says(
            project["id"],
            "DesignAgent",
            f"Proposed {len(stories)} stories for {step.epic_id}:\n" + "\n".join(lines),
            result={"epic_id": step.epic_id, "stories": stories},
            elements=[button("Approve all", "/approve", "success")]
            + [button(f"Approve {s['id']}", f"/approve {s['id']}") for s in stories],
        )
        ctx.notify(
            project["id"],
            "info",
            "Stories proposed",
            f"DesignAgent proposed {len(stories)} stories for {step.epic_id}: approve them",
            [button("Approve all", "/approve", "success")],
        )
        await ctx.set_agent(project["id"], "DesignAgent", "idle")

    # --- messages to agents --------------------------------------------------------------------

    async def prepare_reply(self, envelope: CommandEnvelope) -> Work | None:
        """The agent's answer to a direct message; None if the sender may not use the project."""
        if envelope.project_id is None or envelope.agent_id is None:
            return None
        project = await self._store.get(PROJECT, envelope.project_id)
        if project is None or not can_access(project, envelope.user):
            return None
        try:
            answer: str = await self._with_pool(
                self._provider.reply(envelope.agent_id, envelope.text, dict(envelope.context or {}))
            )
        except ProviderError as exc:
            return exc
        return answer

    def decide_reply(self, envelope: CommandEnvelope, work: Work | None) -> Context:
        """Post the agent's answer (or why there is none) in the channel."""
        ctx = Context(envelope.command_id, Unit(self._store), envelope)
        if work is None or envelope.project_id is None or envelope.agent_id is None:
            ctx.fail(
                "agent_message",
                f"Project {envelope.project_id} not found",
                "Use /project list to see your projects",
            )
            return ctx
        text = str(work) if not isinstance(work, ProviderError) else f"I could not answer: {work}"
        ctx.agent_says(
            envelope.project_id,
            envelope.agent_id,
            text,
            result={"in_reply_to": envelope.command_id, "from": envelope.user.username},
            channel=envelope.channel or "general",
        )
        return ctx
