"""The sync service: appends domain events to their topic's history and fans them out.

It is also the intake of UI-initiated state changes (queue `sync.changes`): it checks each
against the entity's snapshot and forwards the valid ones to the orchestrator, and it serves
entity snapshots (`GET /api/entities/{type}/{id}`).
"""

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from services.common.access import accessible_project
from services.common.adapters import Adapters
from services.common.bus import Delivery, RejectMessage, retrying_transient
from services.common.contracts import (
    DOMAIN_EVENT,
    EVENT_ROUTING_KEYS,
    ChangeEnvelope,
    ChannelName,
    ProjectId,
    StateChangeRejectedData,
    StateChangeRejectedEvent,
    UserInfo,
    channel_topic,
    user_topic,
)
from services.common.entities import (
    ENTITY_TYPES,
    EntitySnapshot,
    check_change,
    project_of,
    snapshot,
)
from services.common.http import bearer_claims
from services.common.jsonutil import dumps, loads, server_frame
from services.common.keys import token_verifier
from services.common.logs import correlation_id
from services.common.ordering import KeyedLocks
from services.common.service_app import service_app
from services.common.tokens import Claims, KeySource
from services.common.topology import (
    COMMANDS,
    ENTITY_CHANGE_KEY,
    EVENTS,
    SYNC_CHANGES_QUEUE,
    SYNC_QUEUE,
)

from .settings import SyncSettings

log = logging.getLogger(__name__)


class SyncService:
    """The read side: history per topic and the fan-out to gateways."""

    name = "sync"

    def __init__(
        self, settings: SyncSettings, registry: CollectorRegistry, keys: KeySource | None = None
    ) -> None:
        self.settings = settings
        self.verifier = token_verifier(settings, keys)
        self._adapters: Adapters | None = None
        self._ordering = KeyedLocks()
        self._appended = Counter(
            "huddle_sync_events_total",
            "Domain events appended and fanned out, by event",
            ["event"],
            registry=registry,
        )
        self._changes = Counter(
            "huddle_sync_state_changes_total",
            "UI-initiated state changes taken in, by outcome of the check",
            ["outcome"],
            registry=registry,
        )
        self.router = self._routes()

    @property
    def adapters(self) -> Adapters:
        assert self._adapters is not None, "sync not started"
        return self._adapters

    async def start(self, adapters: Adapters) -> None:
        self._adapters = adapters
        await adapters.bus.consume(SYNC_QUEUE, self.on_event)
        await adapters.bus.consume(SYNC_CHANGES_QUEUE, self.on_change)

    async def stop(self) -> None:
        return None

    async def on_event(self, delivery: Delivery) -> None:
        """Append the event to its topic (once per event id), then publish it with its seq."""
        try:
            event = DOMAIN_EVENT.validate_json(delivery.body)
        except ValidationError as exc:
            raise RejectMessage(f"not a domain event: {exc}") from exc
        token = correlation_id.set(event.correlation_id)
        try:
            # Events of one topic are appended in the order they were published.
            async with self._ordering.hold(event.topic):
                frame = server_frame(event.event, event.data)
                # A Redis outage is waited out inside the lock: the topic's order holds.
                await retrying_transient(
                    lambda: self.adapters.history.append_and_fan_out(
                        event.topic, event.id, frame, self.adapters.fanout
                    )
                )
            self._appended.labels(event.event).inc()
        finally:
            correlation_id.reset(token)

    async def entity(
        self, entity_type: str, entity_id: str, user: UserInfo
    ) -> EntitySnapshot | None:
        """The entity's snapshot if it exists and the user may see its project, else None."""
        if entity_type not in ENTITY_TYPES:
            return None
        if await accessible_project(self.adapters.store, project_of(entity_id), user) is None:
            return None
        return await snapshot(self.adapters.store, entity_type, entity_id)

    async def on_change(self, delivery: Delivery) -> None:
        """Check a UI change against the entity's snapshot; forward it, or answer why not."""
        try:
            envelope = ChangeEnvelope.model_validate_json(delivery.body)
        except ValidationError as exc:
            raise RejectMessage(f"not a change envelope: {exc}") from exc
        token = correlation_id.set(envelope.request_id)
        try:
            change = envelope.change
            forwarded = envelope
            if await self.adapters.store.outcome(envelope.request_id) is None:
                current = await self.entity(change.entity_type, change.entity_id, envelope.user)
                reason = (
                    f"{change.entity_type} {change.entity_id} not found"
                    if current is None
                    else check_change(
                        change.entity_type,
                        change.field,
                        change.old_value,
                        change.new_value,
                        current.state,
                    )
                )
                if reason is not None or current is None:
                    await self._reject(envelope, reason or "not found")
                    self._changes.labels("rejected").inc()
                    return
                forwarded = envelope.model_copy(update={"expected_version": current.version})
            # else: a redelivery of a change the orchestrator already decided (it was applied,
            # so it would now look stale): forward it again, and the orchestrator repeats its
            # recorded answer instead of deciding twice.
            await self.adapters.bus.publish(
                self.adapters.topology.exchange(COMMANDS),
                ENTITY_CHANGE_KEY,
                dumps(forwarded),
                message_id=envelope.request_id,
                correlation_id=envelope.request_id,
            )
            self._changes.labels("forwarded").inc()
        finally:
            correlation_id.reset(token)

    async def _reject(self, envelope: ChangeEnvelope, reason: str) -> None:
        event = StateChangeRejectedEvent(
            event="state_change_rejected",
            # One id per request: a redelivered change is answered once.
            id=f"{envelope.request_id}:intake",
            topic=user_topic(envelope.user.id),
            correlation_id=envelope.request_id,
            occurred_at=time.time(),
            data=StateChangeRejectedData(
                change_id=envelope.change.change_id,
                reason=reason,
                session_id=envelope.session_id,
                ref=envelope.ref,
            ),
        )
        await self.adapters.bus.publish(
            self.adapters.topology.exchange(EVENTS),
            EVENT_ROUTING_KEYS[event.event],
            dumps(event),
            message_id=event.id,
            correlation_id=event.correlation_id,
        )

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix="/api", tags=["sync"])
        CurrentClaims = Annotated[Claims, Depends(bearer_claims(lambda: self.verifier))]

        @router.get("/messages/{project_id}/{channel}")
        async def messages(
            project_id: ProjectId,
            channel: ChannelName,
            claims: CurrentClaims,
            before: Annotated[int | None, Query(ge=1)] = None,
            limit: Annotated[int, Query(ge=1)] = 50,
        ) -> dict[str, Any]:
            """A channel's history, newest first; page with `before=<oldest seq seen>`."""
            if await accessible_project(self.adapters.store, project_id, claims.user) is None:
                raise HTTPException(404, f"project {project_id} not found")
            if limit > self.settings.max_page:
                raise HTTPException(422, f"limit must be at most {self.settings.max_page}")
            topic = channel_topic(project_id, channel)
            entries = await self.adapters.history.before(topic, before, limit)
            position = await self.adapters.history.position(topic)
            items = [{**loads(frame), "seq": seq} for seq, frame in entries]
            return {
                "topic": topic,
                "epoch": position.epoch,
                "items": items,
                "next_before": entries[-1][0] if len(entries) == limit else None,
            }

        @router.get("/entities/{entity_type}/{entity_id}")
        async def entity(entity_type: str, entity_id: str, claims: CurrentClaims) -> dict[str, Any]:
            """An entity's state and version (its aggregate's); 404 unless the caller may see it."""
            found = await self.entity(entity_type, entity_id, claims.user)
            if found is None:
                raise HTTPException(404, f"{entity_type} {entity_id} not found")
            return found.model_dump(mode="json")

        return router


def create_app(settings: SyncSettings | None = None, adapters: Adapters | None = None) -> FastAPI:
    """The sync service as its own HTTP app."""
    settings = settings or SyncSettings()
    return service_app(
        "Huddle sync",
        settings,
        lambda registry: SyncService(settings, registry),
        adapters,
        history_max_len=settings.history_max_len,
    )
