"""Entity frames on the socket: `subscribe`, `unsubscribe`, `state_change`, and their answers.

Wiring into `GatewayService` (services/gateway/app.py):

1. In `start(adapters)`, after the topic router exists::

       self._entities = EntityFrames(adapters, self._subscribe, self._unsubscribe)

   (`_subscribe`/`_unsubscribe` are the existing `async (connection, topic)` methods that keep
   `connection.topics` and the topic router in step.)

2. In `_dispatch`::

       elif isinstance(frame, SubscribeFrame):
           await self._entities.subscribe(connection, frame)
       elif isinstance(frame, UnsubscribeFrame):
           await self._entities.unsubscribe(connection, frame)
       elif isinstance(frame, StateChangeFrame):
           await self._entities.state_change(connection, frame)

3. Answers to `state_change` come back on the user topic `user:<id>`, which every socket of
   the user follows. Only the socket that sent the change may get them, with the `ref` of its
   frame: pass every fanned-out frame through `change_answer(frame, connection.session_id)`
   in `Connection.deliver`, before anything else looks at it::

       frame = change_answer(frame, self.session_id)
       if frame is None:
           return

   It returns other frames untouched, returns `None` for a `state_change_confirmed` /
   `state_change_rejected` whose `data.session_id` is another socket's, and adds `"ref"` (the
   id of the `state_change` frame, carried in `data.ref`) to the sender's. Frames replayed by
   `resume` from the user topic should go through it too (in `_resume`, before
   `send_paced`), so another tab does not see this tab's answers after a reconnect.

   A dropped answer leaves a hole in that socket's `seq` of the user topic; the seqs it does
   get still increase, so resuming from the last one seen stays correct.

`state_changed` events are not filtered: every subscriber of the entity gets them, the sender
too. Their `source` is `ui:<session_id>` for the field a UI changed (a client may skip its own
echo) and `orchestrator` for everything else, including what the change caused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from services.common.access import accessible_project
from services.common.adapters import Adapters
from services.common.bus import BusUnavailable
from services.common.contracts import (
    ChangeEnvelope,
    StateChangeFrame,
    SubscribeFrame,
    UnsubscribeFrame,
    entity_topic,
)
from services.common.entities import project_of, snapshot
from services.common.jsonutil import dumps, extend
from services.common.tokens import Claims
from services.common.topology import CHANGE_REQUEST_KEY, COMMANDS

_ANSWER_PREFIXES = (
    b'{"event":"state_change_confirmed"',
    b'{"event":"state_change_rejected"',
)


class Socket(Protocol):
    """What these handlers need of a connection (`gateway.connection.Connection` has it)."""

    @property
    def session_id(self) -> str: ...

    @property
    def claims(self) -> Claims: ...

    def reply(self, event: str, data: Any, ref: str | None) -> None: ...

    def error(
        self, code: str, message: str, ref: str | None, extra: dict[str, Any] | None = None
    ) -> None: ...

    def publishing(self, message_id: str) -> Callable[[], None]: ...


TopicChange = Callable[[Any, str], Awaitable[None]]


def change_answer(frame: bytes, session_id: str) -> bytes | None:
    """A fanned-out frame as the socket `session_id` should get it; None: not for this socket."""
    if not frame.startswith(_ANSWER_PREFIXES):
        return frame
    data = orjson.loads(frame).get("data") or {}
    if data.get("session_id") != session_id:
        return None
    ref = data.get("ref")
    return frame if ref is None else extend(frame, {"ref": ref})


class Publish(Protocol):
    """Publishes on the commands exchange; `on_sent` as the broker is handed the message."""

    async def __call__(
        self,
        routing_key: str,
        body: bytes,
        message_id: str,
        *,
        on_sent: Callable[[], object] | None = None,
    ) -> None: ...


# Answers a frame the broker did not take: (socket, error, ref, what was refused).
Refuse = Callable[["Socket", BusUnavailable, str | None, str], None]


def _refuse(connection: Socket, exc: BusUnavailable, ref: str | None, what: str) -> None:
    connection.error("unavailable", f"the {what} was not accepted: broker unavailable", ref)


class EntityFrames:
    """Handles the entity frames of every socket of one gateway."""

    def __init__(
        self,
        adapters: Adapters,
        add_topic: TopicChange,
        remove_topic: TopicChange,
        *,
        publish: Publish | None = None,
        refuse: Refuse | None = None,
    ):
        self._adapters = adapters
        self._add_topic = add_topic
        self._remove_topic = remove_topic
        self._publish = publish or self._publish_once
        self._refuse = refuse or _refuse

    async def _publish_once(
        self,
        routing_key: str,
        body: bytes,
        message_id: str,
        *,
        on_sent: Callable[[], object] | None = None,
    ) -> None:
        await self._adapters.bus.publish(
            self._adapters.topology.exchange(COMMANDS),
            routing_key,
            body,
            message_id=message_id,
            correlation_id=message_id,
            on_sent=on_sent,
        )

    async def subscribe(self, connection: Socket, frame: SubscribeFrame) -> None:
        """Follow an entity: `entity_snapshot` now, `state_changed` on its topic from then on.

        The answer is `{entity_type, entity_id, version, state, topic, position: {seq, epoch}}`
        with the frame's `ref`; `position` is where the entity's topic stood before the
        snapshot was read, so `resume` can continue from it. A `state_changed` whose `version`
        is not above the snapshot's is already in it.
        """
        ref = frame.data
        store = self._adapters.store
        project_id = project_of(ref.entity_id)
        if await accessible_project(store, project_id, connection.claims.user) is None:
            connection.error("forbidden", f"project {project_id} not found or not yours", frame.id)
            return
        topic = entity_topic(ref.entity_type, ref.entity_id)
        # Follow, then read: a change in between arrives (and is older than the snapshot or
        # newer), never lost.
        await self._add_topic(connection, topic)
        position = await self._adapters.history.position(topic)
        found = await snapshot(store, ref.entity_type, ref.entity_id)
        if found is None:
            await self._remove_topic(connection, topic)
            connection.error("not_found", f"{ref.entity_type} {ref.entity_id} not found", frame.id)
            return
        connection.reply(
            "entity_snapshot",
            {
                **found.model_dump(mode="json"),
                "topic": topic,
                "position": position.model_dump(mode="json"),
            },
            frame.id,
        )

    async def unsubscribe(self, connection: Socket, frame: UnsubscribeFrame) -> None:
        """Stop following an entity (always succeeds)."""
        ref = frame.data
        await self._remove_topic(connection, entity_topic(ref.entity_type, ref.entity_id))
        connection.reply(
            "unsubscribed", {"entity_type": ref.entity_type, "entity_id": ref.entity_id}, frame.id
        )

    async def state_change(self, connection: Socket, frame: StateChangeFrame) -> None:
        """Hand a UI change to the sync service's intake; the answer comes on the user topic.

        Nothing is answered here unless the user is not a member of the entity's project
        (`error forbidden`) or the broker does not take the change (`error unavailable`): the
        sync service or the orchestrator answers `state_change_confirmed` or
        `state_change_rejected`.
        """
        project_id = project_of(frame.data.entity_id)
        store = self._adapters.store
        if await accessible_project(store, project_id, connection.claims.user) is None:
            connection.error("forbidden", f"project {project_id} not found or not yours", frame.id)
            return
        envelope = ChangeEnvelope(
            request_id=uuid.uuid4().hex,
            change=frame.data,
            user=connection.claims.user,
            session_id=connection.session_id,
            ref=frame.id,
            issued_at=time.time(),
        )
        try:
            await self._publish(
                CHANGE_REQUEST_KEY,
                dumps(envelope),
                envelope.request_id,
                on_sent=connection.publishing(envelope.request_id),
            )
        except BusUnavailable as exc:
            self._refuse(connection, exc, frame.id, "change")
