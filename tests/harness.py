"""The orchestrator on in-process adapters, driven through the bus like in production."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from services.auth.keys import Keyring
from services.common.adapters import Adapters, memory_adapters
from services.common.bus import Delivery
from services.common.contracts import (
    DOMAIN_EVENT,
    CommandEnvelope,
    CommandResultData,
    DomainEvent,
    UserInfo,
)
from services.common.jsonutil import dumps
from services.common.topology import COMMANDS, SYNC_QUEUE
from services.orchestrator.agents.provider import AgentProvider
from services.orchestrator.agents.scripted import ScriptedProvider
from services.orchestrator.app import OrchestratorService
from services.orchestrator.settings import OrchestratorSettings

ALICE = UserInfo(id="u-alice", username="alice", roles=("member",))
BOB = UserInfo(id="u-bob", username="bob", roles=("member",))
ADMIN = UserInfo(id="u-admin", username="root", roles=("admin", "member"))


class Harness:
    """Sends commands as the gateway would and keeps every domain event sync would see."""

    def __init__(self, adapters: Adapters, service: OrchestratorService) -> None:
        self.adapters = adapters
        self.service = service
        self.events: list[DomainEvent] = []
        self._arrived = asyncio.Event()

    @classmethod
    async def start(
        cls,
        provider: AgentProvider | None = None,
        adapters: Adapters | None = None,
        **settings: Any,
    ) -> Harness:
        """Start an orchestrator on `adapters` (fresh in-process ones by default)."""
        config = OrchestratorSettings(namespace=f"unit-{uuid.uuid4().hex[:6]}", **settings)
        adapters = adapters or memory_adapters(config)
        service = OrchestratorService(
            config,
            CollectorRegistry(),
            keys=Keyring.generate(),
            provider=provider or ScriptedProvider(phase_s=0.0, failure_rate=0.0, ticks=1),
        )
        harness = cls(adapters, service)
        await adapters.bus.consume(SYNC_QUEUE, harness._collect)
        await service.start(adapters)
        return harness

    async def _collect(self, delivery: Delivery) -> None:
        self.events.append(DOMAIN_EVENT.validate_json(delivery.body))
        self._arrived.set()

    async def stop(self) -> None:
        await self.service.stop()
        await self.adapters.close()

    async def send(
        self,
        text: str,
        project_id: str | None = None,
        user: UserInfo = ALICE,
        kind: str = "command",
        agent_id: str | None = None,
    ) -> str:
        """Publish a command; return its id."""
        envelope = CommandEnvelope.model_validate(
            {
                "command_id": uuid.uuid4().hex,
                "kind": kind,
                "user": user,
                "session_id": "s",
                "text": text,
                "project_id": project_id,
                "channel": "general" if project_id else None,
                "agent_id": agent_id,
                "issued_at": time.time(),
            }
        )
        await self.adapters.bus.publish(
            self.adapters.topology.exchange(COMMANDS),
            f"cmd.{kind}",
            dumps(envelope),
            message_id=envelope.command_id,
        )
        return envelope.command_id

    async def command(
        self, text: str, project_id: str | None = None, user: UserInfo = ALICE
    ) -> CommandResultData:
        """Send a command and wait for its result."""
        command_id = await self.send(text, project_id, user)
        event = await self.wait_for(
            lambda e: e.event == "command_result" and e.data.command_id == command_id
        )
        assert event.event == "command_result"
        return event.data

    async def wait_for(
        self, predicate: Callable[[DomainEvent], bool], within_s: float = 10
    ) -> DomainEvent:
        """The first event (seen or to come) that matches."""
        async with asyncio.timeout(within_s):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                self._arrived.clear()
                await self._arrived.wait()

    async def state_of(self, project_id: str) -> str:
        project = await self.adapters.store.get("project", project_id)
        assert project is not None
        return str(project.state["state"])

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.event == kind]
