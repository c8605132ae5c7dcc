"""The sync service: appends domain events to their topic's history and fans them out."""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from services.common.access import accessible_project
from services.common.adapters import Adapters, connect_adapters
from services.common.bus import Delivery, RejectMessage
from services.common.contracts import DOMAIN_EVENT, ChannelName, ProjectId, channel_topic
from services.common.http import bearer_claims, host_app, new_registry
from services.common.jsonutil import loads, server_frame, with_position
from services.common.keys import token_verifier
from services.common.logs import correlation_id
from services.common.ordering import KeyedLocks
from services.common.tokens import Claims, KeySource
from services.common.topology import SYNC_QUEUE

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
        self.router = self._routes()

    @property
    def adapters(self) -> Adapters:
        assert self._adapters is not None, "sync not started"
        return self._adapters

    async def start(self, adapters: Adapters) -> None:
        self._adapters = adapters
        await adapters.bus.consume(SYNC_QUEUE, self.on_event)

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
                position = await self.adapters.history.append(event.topic, event.id, frame)
                await self.adapters.fanout.publish(
                    event.topic, with_position(frame, event.topic, position.seq, position.epoch)
                )
            self._appended.labels(event.event).inc()
        finally:
            correlation_id.reset(token)

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

        return router


def create_app(settings: SyncSettings | None = None, adapters: Adapters | None = None) -> FastAPI:
    """The sync service as its own HTTP app."""
    settings = settings or SyncSettings()
    registry = new_registry()
    service = SyncService(settings, registry)

    async def connect() -> Adapters:
        return adapters or await connect_adapters(settings, settings.history_max_len)

    return host_app(
        "Huddle sync",
        [service],
        registry,
        connect,
        close_adapters=adapters is None,
        cors_origins=settings.allowed_origins,
    )
