"""The wire contract: WebSocket frames, commands on the bus and domain events.

Every model is frozen and forbids unknown fields, so a typo fails where it is made and not in a
client three services away.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from .validation import strip_nulls

MAX_COMMAND_CHARS = 2000
MAX_MESSAGE_CHARS = 4000


def _no_nulls(value: Any) -> Any:
    return strip_nulls(value) if isinstance(value, str) else value


# Text a client writes: NUL characters are stripped before the length limits apply.
ClientText = BeforeValidator(_no_nulls)
ProjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
ChannelName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
FRAME_ID_MAX = 128  # characters of a client frame's `id` (echoed as `ref`)
FrameId = Annotated[str, Field(max_length=FRAME_ID_MAX)]


def frame_ref(raw: object) -> str | None:
    """The `id` of a parsed client frame, if it can be echoed as `ref` (a short string)."""
    if isinstance(raw, dict):
        frame_id = raw.get("id")
        if isinstance(frame_id, str) and len(frame_id) <= FRAME_ID_MAX:
            return frame_id
    return None


class Frozen(BaseModel):
    """Base of every contract model: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- client -> server -------------------------------------------------------------------------


class AuthData(Frozen):
    token: str = Field(min_length=1, max_length=8192)


class CommandData(Frozen):
    command: Annotated[str, ClientText] = Field(min_length=1, max_length=MAX_COMMAND_CHARS)
    project_id: ProjectId | None = None
    channel: ChannelName | None = None
    # The seed's clients send when it was typed; accepted so they work, not used (the server
    # stamps `issued_at` itself: a client's clock is not to be trusted).
    timestamp: str | None = Field(default=None, max_length=64)


class MessageData(Frozen):
    project_id: ProjectId
    channel: ChannelName
    text: Annotated[str, ClientText] = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


AGENTS = ("DesignAgent", "QAAgent", "CodeAgent", "DataAgent")
AgentId = Literal["DesignAgent", "QAAgent", "CodeAgent", "DataAgent"]


class AgentMessageData(Frozen):
    project_id: ProjectId
    channel: ChannelName
    agent_id: AgentId
    message: Annotated[str, ClientText] = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    context: dict[str, Any] | None = None


class ChannelRef(Frozen):
    project_id: ProjectId
    channel: ChannelName


class Empty(Frozen):
    pass


class AuthFrame(Frozen):
    event: Literal["auth"]
    data: AuthData
    id: FrameId | None = None


class CommandFrame(Frozen):
    event: Literal["command"]
    data: CommandData
    id: FrameId | None = None


class MessageFrame(Frozen):
    event: Literal["message"]
    data: MessageData
    id: FrameId | None = None


class JoinChannelFrame(Frozen):
    event: Literal["join_channel"]
    data: ChannelRef
    id: FrameId | None = None


class LeaveChannelFrame(Frozen):
    event: Literal["leave_channel"]
    data: ChannelRef
    id: FrameId | None = None


class AgentMessageFrame(Frozen):
    event: Literal["agent_message"]
    data: AgentMessageData
    id: FrameId | None = None


class PositionRef(Frozen):
    seq: int = Field(ge=0)
    epoch: str = Field(max_length=64)


class ResumeData(Frozen):
    positions: dict[Annotated[str, Field(max_length=200)], PositionRef] = Field(max_length=100)


class EntityRef(Frozen):
    entity_type: Literal["project", "sprint", "story", "task", "agent"]
    entity_id: str = Field(min_length=1, max_length=200)


class StateChangeRequest(Frozen):
    change_id: str = Field(min_length=1, max_length=128)
    entity_type: Literal["project", "sprint", "story", "task", "agent"]
    entity_id: str = Field(min_length=1, max_length=200)
    field: str = Field(min_length=1, max_length=64)
    old_value: Any = None
    new_value: Any = None


class ResumeFrame(Frozen):
    event: Literal["resume"]
    data: ResumeData
    id: FrameId | None = None


class SubscribeFrame(Frozen):
    event: Literal["subscribe"]
    data: EntityRef
    id: FrameId | None = None


class UnsubscribeFrame(Frozen):
    event: Literal["unsubscribe"]
    data: EntityRef
    id: FrameId | None = None


class StateChangeFrame(Frozen):
    event: Literal["state_change"]
    data: StateChangeRequest
    id: FrameId | None = None


class TypingFrame(Frozen):
    event: Literal["typing"]
    data: ChannelRef
    id: FrameId | None = None


class PingFrame(Frozen):
    event: Literal["ping"]
    data: Empty = Empty()
    id: FrameId | None = None


ClientFrame = Annotated[
    AuthFrame
    | CommandFrame
    | MessageFrame
    | JoinChannelFrame
    | LeaveChannelFrame
    | AgentMessageFrame
    | ResumeFrame
    | SubscribeFrame
    | UnsubscribeFrame
    | StateChangeFrame
    | TypingFrame
    | PingFrame,
    Field(discriminator="event"),
]
CLIENT_FRAME = TypeAdapter[ClientFrame](ClientFrame)
CLIENT_EVENTS = frozenset(
    {
        "auth",
        "command",
        "message",
        "join_channel",
        "leave_channel",
        "agent_message",
        "resume",
        "subscribe",
        "unsubscribe",
        "state_change",
        "typing",
        "ping",
    }
)

# --- server -> client (data of each frame) ----------------------------------------------------


class UserInfo(Frozen):
    id: str
    username: str
    roles: tuple[str, ...] = ()


class ConnectedData(Frozen):
    session_id: str
    user: UserInfo
    heartbeat_interval_s: float
    server_time: float


class CommandReceivedData(Frozen):
    command_id: str


class Button(Frozen):
    """Choosing it sends `command` (in the same project and channel)."""

    type: Literal["button"] = "button"
    id: str
    label: str
    style: Literal["primary", "secondary", "success", "danger"] = "secondary"
    command: str


class SelectOption(Frozen):
    label: str
    command: str


class Select(Frozen):
    """Choosing an option sends its `command`."""

    type: Literal["select"] = "select"
    id: str
    label: str
    options: tuple[SelectOption, ...]


InteractiveElement = Annotated[Button | Select, Field(discriminator="type")]


class CommandResultData(Frozen):
    command_id: str
    command: str
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    hint: str | None = None
    current_state: str | None = None
    allowed_commands: tuple[str, ...] | None = None
    interactive_elements: tuple[InteractiveElement, ...] | None = None


class AgentStatusData(Frozen):
    project_id: str
    agent_id: str
    status: Literal["idle", "working", "waiting", "blocked", "paused"]
    task: str | None = None
    phase: str | None = None
    progress: int | None = Field(default=None, ge=0, le=100)


class AgentResponseData(Frozen):
    project_id: str
    channel: str
    agent_id: str
    message: str
    result: dict[str, Any] | None = None
    interactive_elements: tuple[InteractiveElement, ...] | None = None
    ts: float


class NotificationData(Frozen):
    project_id: str | None = None
    type: Literal["success", "warning", "error", "info"]
    title: str
    message: str
    actions: tuple[InteractiveElement, ...] | None = None


class ChannelCreatedData(Frozen):
    project_id: str
    channel: str
    user: UserInfo


class ChatMessageData(Frozen):
    id: str
    project_id: str
    channel: str
    user: UserInfo
    text: str
    ts: float


class StateChangeData(Frozen):
    project_id: str
    old_state: str
    new_state: str
    reason: str


class ErrorData(Frozen):
    code: Literal[
        "bad_request",
        "unknown_event",
        "too_large",
        "rate_limited",
        "forbidden",
        "not_found",
        "invalid_command",
        "unavailable",
        "internal",
    ]
    message: str
    # `unavailable` in doubt, or `internal` from a failed publish: the broker may have taken
    # it, so a result may still come (a command's, matched by its id after a reconnect).
    may_still_run: bool | None = None
    command_id: str | None = None


class Position(Frozen):
    """Where a topic's history stands: the last sequence number and the history's epoch."""

    seq: int
    epoch: str


# --- bus: commands (gateway -> orchestrator) --------------------------------------------------


class CommandEnvelope(Frozen):
    """A client's command, chat message or message to an agent on the commands exchange."""

    command_id: str
    kind: Literal["command", "message", "agent_message"]
    user: UserInfo
    session_id: str
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    project_id: str | None = None
    channel: str | None = None
    agent_id: str | None = None
    context: dict[str, Any] | None = None
    issued_at: float


class StepEnvelope(Frozen):
    """The orchestrator's note to itself: run the next step of agent work (`cmd.step`).

    Its `step_id` names exactly one step, so a redelivered step is recognised and done once.
    """

    step_id: str
    kind: Literal["task_phase", "propose_stories"]
    project_id: str
    sprint_id: str | None = None
    task_id: str | None = None
    epic_id: str | None = None
    phase: str | None = None
    attempt: int = 0


# --- bus: domain events (orchestrator -> sync, metrics) ---------------------------------------


class EventBase(Frozen):
    id: str
    topic: str
    correlation_id: str
    occurred_at: float


class CommandResultEvent(EventBase):
    event: Literal["command_result"]
    data: CommandResultData
    session_id: str
    issued_at: float


class StateChangeEvent(EventBase):
    event: Literal["state_change"]
    data: StateChangeData


class ChatMessageEvent(EventBase):
    event: Literal["message"]
    data: ChatMessageData


class AgentStatusEvent(EventBase):
    event: Literal["agent_status"]
    data: AgentStatusData


class AgentResponseEvent(EventBase):
    event: Literal["agent_response"]
    data: AgentResponseData


class NotificationEvent(EventBase):
    event: Literal["notification"]
    data: NotificationData


class ChannelCreatedEvent(EventBase):
    event: Literal["channel_created"]
    data: ChannelCreatedData


def channel_topic(project_id: str, channel: str) -> str:
    """Topic of one channel's messages."""
    return f"channel:{project_id}/{channel}"


def project_topic(project_id: str) -> str:
    """Topic of a project's workflow transitions, agent status and entity changes."""
    return f"project:{project_id}"


def entity_topic(entity_type: str, entity_id: str) -> str:
    """Topic of one entity's `state_changed` events."""
    return f"entity:{entity_type}:{entity_id}"


def user_topic(user_id: str) -> str:
    """Topic of what is for one user only (their command results)."""
    return f"user:{user_id}"


# --- entities and UI-initiated changes (issue #4) ---------------------------------------------

EntityType = Literal["project", "sprint", "story", "task", "agent"]


class EntitySnapshotData(Frozen):
    """An entity as it is now: the answer to `subscribe` and to `GET /api/entities/{type}/{id}`.

    `version` is the version of the stored aggregate the entity lives in (a project, its
    backlog, a sprint, its agents); a `state_changed` with a version not above it is older news.
    """

    entity_type: EntityType
    entity_id: str
    version: int
    state: dict[str, Any]


class StateChangedData(Frozen):
    """One field of one entity changed; `source` is `orchestrator` or `ui:<session_id>`."""

    entity_type: EntityType
    entity_id: str
    field: str
    old_value: Any = None
    new_value: Any = None
    version: int
    source: str


class StateChangedEvent(EventBase):
    """On the topic `entity:<type>:<id>`."""

    event: Literal["state_changed"]
    data: StateChangedData


class StateChangeConfirmedData(Frozen):
    """The sender's change was applied; `version` is the entity's aggregate version after it.

    `session_id` names the socket that sent the change (the gateway delivers the frame to that
    socket only) and `ref` is the id of its `state_change` frame.
    """

    change_id: str
    version: int
    session_id: str
    ref: str | None = None


class StateChangeRejectedData(Frozen):
    """The sender's change was not applied, and why. Routed like `StateChangeConfirmedData`."""

    change_id: str
    reason: str
    session_id: str
    ref: str | None = None


class StateChangeConfirmedEvent(EventBase):
    """On the sender's user topic `user:<id>`."""

    event: Literal["state_change_confirmed"]
    data: StateChangeConfirmedData


class StateChangeRejectedEvent(EventBase):
    """On the sender's user topic `user:<id>`."""

    event: Literal["state_change_rejected"]
    data: StateChangeRejectedData


class ChangeEnvelope(Frozen):
    """A client's `state_change` on the commands exchange.

    The gateway publishes it with routing key `change.request` (queue `sync.changes`) and
    `expected_version` unset; the sync service validates it and forwards it to the orchestrator
    with routing key `cmd.entity_change` and `expected_version` = the version of the snapshot it
    validated against. `request_id` is the server's id of this one request (the client's
    `change_id` need not be unique across clients); it is the idempotency token.
    """

    request_id: str = Field(min_length=1, max_length=128)
    change: StateChangeRequest
    user: UserInfo
    session_id: str
    ref: FrameId | None = None
    issued_at: float
    expected_version: int | None = None


# --- every domain event, and its routing key on the events exchange ---------------------------

DomainEvent = Annotated[
    CommandResultEvent
    | StateChangeEvent
    | ChatMessageEvent
    | AgentStatusEvent
    | AgentResponseEvent
    | NotificationEvent
    | ChannelCreatedEvent
    | StateChangedEvent
    | StateChangeConfirmedEvent
    | StateChangeRejectedEvent,
    Field(discriminator="event"),
]
DOMAIN_EVENT = TypeAdapter[DomainEvent](DomainEvent)

EVENT_ROUTING_KEYS: dict[str, str] = {
    "command_result": "command.result",
    "state_change": "workflow.transition",
    "message": "chat.message",
    "agent_status": "agent.status",
    "agent_response": "agent.response",
    "notification": "notification.sent",
    "channel_created": "project.channel_created",
    "state_changed": "entity.changed",
    "state_change_confirmed": "entity.change_confirmed",
    "state_change_rejected": "entity.change_rejected",
}
