"""The orchestrator: consumes commands and its own steps, decides, commits, publishes."""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.access import accessible_project
from services.common.adapters import Adapters
from services.common.bus import Delivery, RejectMessage, retrying_transient
from services.common.contracts import (
    DOMAIN_EVENT,
    EVENT_ROUTING_KEYS,
    ChangeEnvelope,
    CommandEnvelope,
    CommandResultEvent,
    DomainEvent,
    StepEnvelope,
    UserInfo,
)
from services.common.entities import project_of
from services.common.http import bearer_claims
from services.common.jsonutil import dumps
from services.common.keys import token_verifier
from services.common.logs import correlation_id
from services.common.member_index import build_member_index, projects_of
from services.common.ordering import KeyedLocks
from services.common.service_app import service_app
from services.common.store import AlreadyProcessed, Entity, VersionConflict
from services.common.tokens import Claims, KeySource
from services.common.topology import COMMANDS, ENTITY_CHANGE_KEY, EVENTS, ORCHESTRATOR_QUEUE

from .agents.factory import build_provider
from .agents.provider import AgentProvider
from .changes import EntityChanges
from .commands_project import pending_approvals
from .context import Context, Outcome
from .domain import Domain
from .given_up import change_given_up, command_given_up, step_given_up
from .logbuffer import LogBuffer
from .model import AGENT_STATE, BACKLOG, SPRINT, new_agents, new_backlog, sprint_key
from .settings import OrchestratorSettings
from .steps import AgentWork
from .unit import Unit
from .workflow import State, allowed_commands

log = logging.getLogger(__name__)
STEP_ROUTING_KEY = "cmd.step"


def _encode(outcome: Outcome) -> bytes:
    return orjson.dumps(
        {
            "events": [event.model_dump(mode="json") for event in outcome.events],
            "steps": [step.model_dump(mode="json") for step in outcome.steps],
        }
    )


def _decode(raw: bytes) -> Outcome:
    data = orjson.loads(raw)
    return Outcome(
        events=[DOMAIN_EVENT.validate_python(item) for item in data["events"]],
        steps=[StepEnvelope.model_validate(item) for item in data["steps"]],
    )


async def _all(publishes: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run publishes started in order; wait for every one, raising the first failure."""
    pending = list(publishes)
    if len(pending) == 1:
        await pending[0]
    elif pending:
        tasks = [asyncio.ensure_future(publish) for publish in pending]
        # Every task runs to its end (no orphan still publishing after a failure is raised).
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


class NewProject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)


class OrchestratorService:
    """The only writer of domain state."""

    name = "orchestrator"

    def __init__(
        self,
        settings: OrchestratorSettings,
        registry: CollectorRegistry,
        keys: KeySource | None = None,
        provider: AgentProvider | None = None,
    ) -> None:
        self.settings = settings
        self.verifier = token_verifier(settings, keys)
        self.pool_size = settings.agent_pool_size
        self.max_channels = settings.max_channels_per_project
        self._provider = provider or build_provider(settings)
        self._adapters: Adapters | None = None
        self._domain: Domain | None = None
        self._changes: EntityChanges | None = None
        self._work: AgentWork | None = None
        self._logs = LogBuffer(settings.log_buffer_lines)
        self._ordering = KeyedLocks()
        self._started_at = time.time()
        self._handled = Counter(
            "huddle_orchestrator_commands_total",
            "Commands and steps handled by the orchestrator, by kind and outcome",
            ["kind", "outcome"],
            registry=registry,
        )
        self._duration = Histogram(
            "huddle_orchestrator_handle_seconds",
            "Time from consuming a command or step to acking it",
            ["kind"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 5, 10, 30),
        )
        busy = Gauge("huddle_agent_pool_busy", "Agent phases running now", registry=registry)
        busy.set_function(lambda: 0 if self._work is None else self._work.busy)
        self.router = self._routes()

    @property
    def adapters(self) -> Adapters:
        assert self._adapters is not None, "orchestrator not started"
        return self._adapters

    async def start(self, adapters: Adapters) -> None:
        self._adapters = adapters
        self._domain = Domain(adapters.store, self)
        self._changes = EntityChanges(adapters.store)
        self._work = AgentWork(
            adapters.store,
            self._provider,
            self.settings.agent_pool_size,
            self.settings.task_max_failures,
            self._publish_events,
        )
        logging.getLogger().addHandler(self._logs)
        await build_member_index(adapters.store)
        await adapters.bus.consume(ORCHESTRATOR_QUEUE, self.on_message)

    async def stop(self) -> None:
        logging.getLogger().removeHandler(self._logs)
        await self._provider.aclose()

    # --- Runtime (what /status, /logs, /project list ask of us) --------------------------------

    async def projects_of(self, user: UserInfo) -> list[Entity]:
        """Every project the user may see."""
        return await projects_of(self.adapters.store, user)

    def status(self) -> dict[str, Any]:
        """System status for `/status`."""
        return {
            "uptime_s": round(time.time() - self._started_at),
            "agent_provider": self.settings.agent_provider,
            "agent_pool_size": self.settings.agent_pool_size,
            "agent_pool_busy": 0 if self._work is None else self._work.busy,
            "namespace": self.settings.namespace,
        }

    def recent_logs(self) -> list[str]:
        """The last log lines of this process."""
        return list(self._logs.lines)[-50:]

    # --- consuming -----------------------------------------------------------------------------

    async def on_message(self, delivery: Delivery) -> None:
        """A command from a client, a UI change forwarded by sync, or one of our own steps."""
        started = time.perf_counter()
        kind = {STEP_ROUTING_KEY: "step", ENTITY_CHANGE_KEY: "entity_change"}.get(
            delivery.routing_key, "command"
        )
        try:
            if kind == "step":
                await self._on_step(delivery)
            elif kind == "entity_change":
                await self._on_change(delivery)
            else:
                await self._on_command(delivery)
        finally:
            self._duration.labels(kind).observe(time.perf_counter() - started)

    async def _on_command(self, delivery: Delivery) -> None:
        try:
            envelope = CommandEnvelope.model_validate_json(delivery.body)
        except ValidationError as exc:
            self._handled.labels("invalid", "dead_lettered").inc()
            raise RejectMessage(f"not a command envelope: {exc}") from exc

        async def give_up() -> None:
            await self._tell_given_up(command_given_up(envelope, self.adapters.store))

        async with self._handling(delivery, envelope.kind, envelope.command_id, give_up):
            if envelope.kind == "agent_message":
                await self.handle_command(envelope)  # slow (the provider), and order-free
            else:
                # One project's commands are decided in the order they arrived; the lock is
                # taken before the first await, so deliveries queue up in delivery order.
                async with self._ordering.hold(envelope.project_id or envelope.user.id):
                    await self.handle_command(envelope)
            self._handled.labels(envelope.kind, "done").inc()

    @contextlib.asynccontextmanager
    async def _handling(
        self,
        delivery: Delivery,
        kind: str,
        handling_id: str,
        give_up: Callable[[], Awaitable[None]],
    ) -> AsyncIterator[None]:
        """Log under `handling_id`; on a failure that sets the message aside, count it and
        `give_up` (tell whoever waits for it) before it goes to the dead letters."""
        token = correlation_id.set(handling_id)
        try:
            yield
        except Exception as exc:
            if delivery.set_aside_by(exc):
                self._handled.labels(kind, "dead_lettered").inc()
                await give_up()
            raise
        finally:
            correlation_id.reset(token)

    async def handle_command(self, envelope: CommandEnvelope) -> Outcome:
        """Decide, commit and publish one command; return what it produced."""
        assert self._domain is not None and self._work is not None
        if envelope.kind == "agent_message":
            recorded = await self.adapters.store.outcome(envelope.command_id)
            if recorded is not None:
                return await self._publish(_decode(recorded))
            reply = await self._work.prepare_reply(envelope)
            work = self._work

            async def decide_reply() -> Context:
                return work.decide_reply(envelope, reply)

            return await self._commit_and_publish(envelope.command_id, decide_reply)
        domain = self._domain

        async def decide() -> Context:
            return await domain.handle(envelope)

        return await self._commit_and_publish(envelope.command_id, decide)

    async def _on_change(self, delivery: Delivery) -> None:
        try:
            envelope = ChangeEnvelope.model_validate_json(delivery.body)
        except ValidationError as exc:
            self._handled.labels("entity_change", "dead_lettered").inc()
            raise RejectMessage(f"not a change envelope: {exc}") from exc

        async def give_up() -> None:
            await self._tell_given_up(change_given_up(envelope, self.adapters.store))

        async with self._handling(delivery, "entity_change", envelope.request_id, give_up):
            # In line with the project's commands: decided in the order they arrived.
            async with self._ordering.hold(project_of(envelope.change.entity_id)):
                await self.handle_change(envelope)
            self._handled.labels("entity_change", "done").inc()

    async def handle_change(self, envelope: ChangeEnvelope) -> Outcome:
        """Apply (compare-and-set) or reject one UI-initiated change; return what it produced."""
        assert self._changes is not None
        changes = self._changes

        async def decide() -> Context:
            return await changes.decide(envelope)

        return await self._commit_and_publish(envelope.request_id, decide)

    async def _on_step(self, delivery: Delivery) -> None:
        assert self._work is not None
        try:
            step = StepEnvelope.model_validate_json(delivery.body)
        except ValidationError as exc:
            self._handled.labels("step", "dead_lettered").inc()
            raise RejectMessage(f"not a step: {exc}") from exc

        async def give_up() -> None:
            await self._fail_step(step)

        async with self._handling(delivery, "step", step.step_id, give_up):
            recorded = await self.adapters.store.outcome(step.step_id)
            if recorded is not None:
                await self._publish(_decode(recorded))  # done before a crash: finish publishing
                return
            work = await self._work.prepare(step)
            if work is None:
                self._handled.labels("step", "stale").inc()
                return
            agent_work = self._work

            async def decide() -> Context:
                return await agent_work.decide(step, work)

            async with self._ordering.hold(step.project_id):
                await self._commit_and_publish(step.step_id, decide)
            self._handled.labels("step", "done").inc()

    async def _fail_step(self, step: StepEnvelope) -> None:
        """Record a step set aside as a failed attempt of its task (or epic), which would
        otherwise stay "working" for ever; best effort, like `_tell_given_up`."""
        assert self._work is not None
        agent_work, failed = self._work, step_given_up(step)

        async def decide() -> Context:
            return await agent_work.decide(step, failed)

        try:
            async with self._ordering.hold(step.project_id):
                await self._commit_and_publish(step.step_id, decide)
        except Exception:
            log.exception("could not record step %s as failed", step.step_id)

    async def _tell_given_up(self, answer: list[DomainEvent]) -> None:
        # Best effort: the message goes to the dead letters whether or not this is heard.
        try:
            await self._publish_events(answer)
        except Exception:
            log.exception("could not tell the sender that their request was set aside")

    async def _commit_and_publish(
        self, token: str, decide: Callable[[], Awaitable[Context]]
    ) -> Outcome:
        # Callers hold the project's ordering lock: a Redis or broker outage is waited out
        # here, so the commands behind this one keep their order (decided again, committed
        # once: the idempotency record answers a second commit).
        return await retrying_transient(lambda: self._decide_commit_publish(token, decide))

    async def _decide_commit_publish(
        self, token: str, decide: Callable[[], Awaitable[Context]]
    ) -> Outcome:
        for _ in range(self.settings.conflict_retries):
            ctx = await decide()
            ctx.announce_changes()
            try:
                await self.adapters.store.commit(
                    ctx.unit.writes(),
                    token=token,
                    outcome=_encode(ctx.outcome),
                    token_ttl_s=self.settings.idempotency_ttl_s,
                )
            except AlreadyProcessed as done:
                # A redelivery: publish what the first attempt decided, not a second decision.
                return await self._publish(_decode(done.outcome))
            except VersionConflict as conflict:
                log.info("retrying after a concurrent change: %s", conflict)
                continue
            return await self._publish(ctx.outcome)
        raise RuntimeError(f"{token} kept conflicting; requeueing")

    async def _publish_events(self, events: list[DomainEvent]) -> None:
        # Sent in order on one channel (so the broker keeps their order), confirmed together:
        # one confirm wait per commit instead of one per event. All are confirmed, or this
        # raises and the command is requeued, before the command is acked.
        exchange = self.adapters.topology.exchange(EVENTS)
        await _all(
            self.adapters.bus.publish(
                exchange,
                EVENT_ROUTING_KEYS[event.event],
                dumps(event),
                message_id=event.id,
                correlation_id=event.correlation_id,
            )
            for event in events
        )

    async def _publish(self, outcome: Outcome) -> Outcome:
        await self._publish_events(outcome.events)
        exchange = self.adapters.topology.exchange(COMMANDS)
        await _all(
            self.adapters.bus.publish(
                exchange,
                STEP_ROUTING_KEY,
                dumps(step),
                message_id=step.step_id,
                correlation_id=step.step_id,
            )
            for step in outcome.steps
        )
        return outcome

    # --- HTTP ----------------------------------------------------------------------------------

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix="/api", tags=["orchestrator"])
        CurrentClaims = Annotated[Claims, Depends(bearer_claims(lambda: self.verifier))]

        async def visible_project(project_id: str, claims: Claims) -> Entity:
            project = await accessible_project(self.adapters.store, project_id, claims.user)
            if project is None:
                raise HTTPException(404, f"project {project_id} not found")
            return project

        def summary(project: Entity) -> dict[str, Any]:
            state = project.state
            return {
                "id": project.key,
                "name": state["name"],
                "state": state["state"],
                "mode": state.get("mode", "blocking"),
                "channels": state["channels"],
                "active_sprint": state.get("active_sprint"),
            }

        @router.get("/projects")
        async def projects(claims: CurrentClaims) -> list[dict[str, Any]]:
            """The projects the caller may see."""
            return [summary(p) for p in await self.projects_of(claims.user)]

        @router.post("/projects", status_code=201)
        async def create_project(body: NewProject, claims: CurrentClaims) -> dict[str, Any]:
            """Register a project (the same as `/project register <name>`)."""
            envelope = CommandEnvelope(
                command_id=f"http-{time.time_ns()}",
                kind="command",
                user=claims.user,
                session_id=claims.session_id,
                text=f"/project register {body.name}",
                issued_at=time.time(),
            )
            outcome = await self.handle_command(envelope)
            result = next(e for e in outcome.events if isinstance(e, CommandResultEvent)).data
            if not result.ok:
                status = 409 if result.error and "already exists" in result.error else 422
                raise HTTPException(status, f"{result.error}. {result.hint or ''}".strip())
            project = await visible_project(str((result.result or {})["project_id"]), claims)
            return summary(project)

        @router.get("/projects/{project_id}/state")
        async def project_state(project_id: str, claims: CurrentClaims) -> dict[str, Any]:
            """A project's workflow state, the commands allowed in it, what waits for approval."""
            project = await visible_project(project_id, claims)
            state = State(project.state["state"])
            ctx = Context("http", Unit(self.adapters.store))
            pending = await pending_approvals(ctx, project.state)
            admin = "admin" in claims.user.roles
            return {
                "project_id": project_id,
                "state": state.value,
                "mode": project.state.get("mode", "blocking"),
                "allowed_commands": allowed_commands(
                    state, admin=admin, approvals_pending=bool(pending)
                ),
                "pending_approvals": pending,
                "version": project.version,
            }

        @router.get("/projects/{project_id}/backlog")
        async def backlog(project_id: str, claims: CurrentClaims) -> dict[str, Any]:
            """Epics and stories."""
            await visible_project(project_id, claims)
            found = await self.adapters.store.get(BACKLOG, project_id)
            return new_backlog() if found is None else found.state

        @router.get("/projects/{project_id}/sprints")
        async def sprints(project_id: str, claims: CurrentClaims) -> list[dict[str, Any]]:
            """Every sprint of the project, newest first, with its tasks."""
            project = await visible_project(project_id, claims)
            # Sprints are SP1..SP<sprint_seq>: read those, not every sprint of every project.
            count = int(project.state.get("sprint_seq", 0))
            keys = [sprint_key(project_id, f"SP{n}") for n in range(1, count + 1)]
            found = await self.adapters.store.get_many(SPRINT, keys)
            listed = [s.state for s in found if s is not None]
            return sorted(listed, key=lambda s: s["created_at"], reverse=True)

        @router.get("/agents")
        async def agents(claims: CurrentClaims) -> dict[str, Any]:
            """The agents of every project the caller sees, and the pool."""
            per_project = []
            projects = await self.projects_of(claims.user)
            states = await self.adapters.store.get_many(AGENT_STATE, [p.key for p in projects])
            for project, state in zip(projects, states, strict=True):
                agents_state = new_agents() if state is None else state.state
                per_project.append(
                    {
                        "project_id": project.key,
                        "agents": [{"agent_id": k, **v} for k, v in agents_state.items()],
                    }
                )
            return {
                "pool_size": self.settings.agent_pool_size,
                "busy": 0 if self._work is None else self._work.busy,
                "projects": per_project,
            }

        return router


def create_app(
    settings: OrchestratorSettings | None = None, adapters: Adapters | None = None
) -> FastAPI:
    """The orchestrator as its own HTTP app."""
    settings = settings or OrchestratorSettings()
    return service_app(
        "Huddle orchestrator",
        settings,
        lambda registry: OrchestratorService(settings, registry),
        adapters,
    )
