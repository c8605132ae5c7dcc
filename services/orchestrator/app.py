"""The orchestrator: consumes commands, applies them to the domain, publishes what happened."""

import logging
import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError

from services.common.adapters import Adapters, connect_adapters
from services.common.bus import Delivery, RejectMessage
from services.common.contracts import (
    DOMAIN_EVENT,
    EVENT_ROUTING_KEYS,
    CommandEnvelope,
    DomainEvent,
)
from services.common.http import bearer_claims, host_app, new_registry
from services.common.jsonutil import dumps
from services.common.keys import token_verifier
from services.common.logs import correlation_id
from services.common.store import AlreadyProcessed, VersionConflict
from services.common.tokens import Claims, KeySource
from services.common.topology import EVENTS, ORCHESTRATOR_QUEUE

from .domain import Domain
from .projects import PROJECT, can_access, visible_projects
from .settings import OrchestratorSettings
from .workflow import State, allowed_commands

log = logging.getLogger(__name__)


def _encode_events(events: list[DomainEvent]) -> bytes:
    return orjson.dumps([event.model_dump(mode="json") for event in events])


def _decode_events(raw: bytes) -> list[DomainEvent]:
    return [DOMAIN_EVENT.validate_python(item) for item in orjson.loads(raw)]


class OrchestratorService:
    """The only writer of domain state."""

    name = "orchestrator"

    def __init__(
        self,
        settings: OrchestratorSettings,
        registry: CollectorRegistry,
        keys: KeySource | None = None,
    ) -> None:
        self.settings = settings
        self.verifier = token_verifier(settings, keys)
        self._adapters: Adapters | None = None
        self._domain: Domain | None = None
        self._handled = Counter(
            "huddle_orchestrator_commands_total",
            "Commands handled by the orchestrator, by kind and outcome",
            ["kind", "outcome"],
            registry=registry,
        )
        self._duration = Histogram(
            "huddle_orchestrator_handle_seconds",
            "Time from consuming a command to acking it",
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        self.router = self._routes()

    @property
    def adapters(self) -> Adapters:
        assert self._adapters is not None, "orchestrator not started"
        return self._adapters

    async def start(self, adapters: Adapters) -> None:
        self._adapters = adapters
        self._domain = Domain(adapters.store)
        await adapters.bus.consume(ORCHESTRATOR_QUEUE, self.on_command)

    async def stop(self) -> None:
        return None

    async def on_command(self, delivery: Delivery) -> None:
        """Handle one command: decide, commit with its id as token, publish, then ack."""
        started = time.perf_counter()
        try:
            envelope = CommandEnvelope.model_validate_json(delivery.body)
        except ValidationError as exc:
            self._handled.labels("invalid", "dead_lettered").inc()
            raise RejectMessage(f"not a command envelope: {exc}") from exc
        token = correlation_id.set(envelope.command_id)
        try:
            events = await self._decide_and_commit(envelope)
            exchange = self.adapters.topology.exchange(EVENTS)
            for event in events:
                await self.adapters.bus.publish(
                    exchange,
                    EVENT_ROUTING_KEYS[event.event],
                    dumps(event),
                    message_id=event.id,
                    correlation_id=envelope.command_id,
                )
            self._handled.labels(envelope.kind, "done").inc()
        finally:
            correlation_id.reset(token)
            self._duration.observe(time.perf_counter() - started)

    async def _decide_and_commit(self, envelope: CommandEnvelope) -> list[DomainEvent]:
        assert self._domain is not None
        for _ in range(self.settings.conflict_retries):
            outcome = await self._domain.handle(envelope)
            try:
                await self.adapters.store.commit(
                    outcome.writes,
                    token=envelope.command_id,
                    outcome=_encode_events(outcome.events),
                    token_ttl_s=self.settings.idempotency_ttl_s,
                )
            except AlreadyProcessed as done:
                # A redelivery: publish what the first attempt decided, not a second decision.
                return _decode_events(done.outcome)
            except VersionConflict as conflict:
                log.info("retrying after a concurrent change: %s", conflict)
                continue
            return outcome.events
        raise RuntimeError(f"command {envelope.command_id} kept conflicting; requeueing")

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix="/api", tags=["orchestrator"])
        CurrentClaims = Annotated[Claims, Depends(bearer_claims(lambda: self.verifier))]

        @router.get("/projects")
        async def projects(claims: CurrentClaims) -> list[dict[str, Any]]:
            """The projects the caller may see."""
            found = await visible_projects(self.adapters.store, claims.user)
            return [
                {
                    "id": p.key,
                    "name": p.state["name"],
                    "state": p.state["state"],
                    "channels": p.state["channels"],
                }
                for p in found
            ]

        @router.get("/projects/{project_id}/state")
        async def project_state(project_id: str, claims: CurrentClaims) -> dict[str, Any]:
            """A project's workflow state and the commands allowed in it."""
            project = await self.adapters.store.get(PROJECT, project_id)
            if project is None or not can_access(project, claims.user):
                raise HTTPException(404, f"project {project_id} not found")
            state = State(project.state["state"])
            return {
                "project_id": project_id,
                "state": state.value,
                "allowed_commands": allowed_commands(state, admin="admin" in claims.user.roles),
                "pending_approvals": [],
                "version": project.version,
            }

        return router


def create_app(
    settings: OrchestratorSettings | None = None, adapters: Adapters | None = None
) -> FastAPI:
    """The orchestrator as its own HTTP app."""
    settings = settings or OrchestratorSettings()
    registry = new_registry()
    service = OrchestratorService(settings, registry)

    async def connect() -> Adapters:
        return adapters or await connect_adapters(settings)

    return host_app(
        "Huddle orchestrator",
        [service],
        registry,
        connect,
        close_adapters=adapters is None,
        cors_origins=settings.allowed_origins,
    )
