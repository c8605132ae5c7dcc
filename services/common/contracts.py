"""The wire contract: WebSocket frames, commands on the bus and domain events.

Every model is frozen and forbids unknown fields, so a typo fails where it is made and not in a
client three services away.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

MAX_COMMAND_CHARS = 2000
MAX_MESSAGE_CHARS = 4000
ProjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
ChannelName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
FrameId = Annotated[str, Field(max_length=128)]


class Frozen(BaseModel):
    """Base of every contract model: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- client -> server -------------------------------------------------------------------------


class AuthData(Frozen):
    token: str = Field(min_length=1, max_length=8192)


class CommandData(Frozen):
    command: str = Field(min_length=1, max_length=MAX_COMMAND_CHARS)
    project_id: ProjectId | None = None
    channel: ChannelName | None = None


class MessageData(Frozen):
    project_id: ProjectId
    channel: ChannelName
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


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


class PingFrame(Frozen):
    event: Literal["ping"]
    data: Empty = Empty()
    id: FrameId | None = None


ClientFrame = Annotated[
    AuthFrame | CommandFrame | MessageFrame | JoinChannelFrame | LeaveChannelFrame | PingFrame,
    Field(discriminator="event"),
]
CLIENT_FRAME = TypeAdapter[ClientFrame](ClientFrame)
CLIENT_EVENTS = frozenset({"auth", "command", "message", "join_channel", "leave_channel", "ping"})

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


class CommandResultData(Frozen):
    command_id: str
    command: str
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    hint: str | None = None
    current_state: str | None = None
    allowed_commands: tuple[str, ...] | None = None


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


class Position(Frozen):
    """Where a topic's history stands: the last sequence number and the history's epoch."""

    seq: int
    epoch: str


# --- bus: commands (gateway -> orchestrator) --------------------------------------------------


class CommandEnvelope(Frozen):
    """A client's command or chat message as it travels on the commands exchange."""

    command_id: str
    kind: Literal["command", "message"]
    user: UserInfo
    session_id: str
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    project_id: str | None = None
    channel: str | None = None
    issued_at: float


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


DomainEvent = Annotated[
    CommandResultEvent | StateChangeEvent | ChatMessageEvent, Field(discriminator="event")
]
DOMAIN_EVENT = TypeAdapter[DomainEvent](DomainEvent)

# Routing key on the events exchange for each domain event.
EVENT_ROUTING_KEYS: dict[str, str] = {
    "command_result": "command.result",
    "state_change": "workflow.transition",
    "message": "chat.message",
}


def channel_topic(project_id: str, channel: str) -> str:
    """Topic of one channel's messages."""
    return f"channel:{project_id}/{channel}"


def project_topic(project_id: str) -> str:
    """Topic of a project's workflow transitions, agent status and entity changes."""
    return f"project:{project_id}"


def user_topic(user_id: str) -> str:
    """Topic of what is for one user only (their command results)."""
    return f"user:{user_id}"
