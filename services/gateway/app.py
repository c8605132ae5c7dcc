"""The gateway: authenticates sockets, publishes their commands, forwards their topics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.common.access import accessible_project
from services.common.adapters import Adapters, connect_adapters
from services.common.addresses import client_address, parse_networks
from services.common.bus import (
    BusBlocked,
    BusInDoubt,
    BusUnavailable,
    publish_resolving_doubt,
)
from services.common.contracts import (
    AgentMessageFrame,
    AuthFrame,
    ChannelRef,
    ClientFrame,
    CommandEnvelope,
    CommandFrame,
    ConnectedData,
    JoinChannelFrame,
    LeaveChannelFrame,
    MessageFrame,
    PingFrame,
    ResumeFrame,
    StateChangeFrame,
    SubscribeFrame,
    TypingFrame,
    UnsubscribeFrame,
    UserInfo,
    channel_topic,
    project_topic,
    user_topic,
)
from services.common.headers import origin_of
from services.common.http import SocketEndpoint, host_app, new_registry
from services.common.jsonutil import dumps, loads, server_frame, with_position
from services.common.keys import token_verifier
from services.common.logs import ThrottledLog, correlation_id
from services.common.shutdown import (
    GOING_AWAY,
    ON_LEAVING,
    REFUSE_WHILE_LEAVING,
    SERVER_LEAVING,
)
from services.common.tokens import InvalidToken, KeySource
from services.common.topology import COMMANDS
from services.common.transient import redis_unavailable
from services.common.validation import dangerous

from .backlog import CommandBacklog
from .connection import CLOSE_UNAUTHENTICATED, Connection, Tally, TallyCollector, evict_frame
from .entities import EntityFrames, Socket, change_answer
from .frames import FrameError, read_frame
from .inbox import FrameInbox
from .leaving import leave_unfinished, refusal_while_leaving
from .presence import PresenceTracker
from .ratelimit import AddressLimiter, TokenBucket
from .settings import GatewaySettings
from .topics import TopicRouter

log = logging.getLogger(__name__)

CLOSE_AUTH_TIMEOUT = 4408
CLOSE_TOO_LARGE = 1009
CLOSE_RATE_LIMITED = 4429
CLOSE_UNAVAILABLE = 1013  # "try again later"


def browser_api_urls(settings: GatewaySettings, *, same_origin: bool) -> dict[str, str]:
    """Where the browser reaches the HTTP APIs: the page's origin, or each service's port."""
    if same_origin or settings.public_api_url is not None:
        base = settings.public_api_url or ""
        return {"sync_url": base, "orchestrator_url": base, "metrics_url": base}
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return {
        "sync_url": f"http://{host}:{settings.sync_port}",
        "orchestrator_url": f"http://{host}:{settings.orchestrator_port}",
        "metrics_url": f"http://{host}:{settings.metrics_port}",
    }


class GatewayService:
    """The edge every client talks to."""

    name = "gateway"

    def __init__(
        self,
        settings: GatewaySettings,
        registry: CollectorRegistry,
        keys: KeySource | None = None,
        *,
        public_auth_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.verifier = token_verifier(settings, keys)
        self.public_auth_url = (
            public_auth_url if public_auth_url is not None else settings.public_auth_url
        )
        if self.public_auth_url is None:
            self.public_auth_url = settings.auth_url
        self.api_urls = browser_api_urls(settings, same_origin=self.public_auth_url == "")
        self._adapters: Adapters | None = None
        self._topics: TopicRouter | None = None
        self.gateway_id = uuid.uuid4().hex[:12]
        self._entities: EntityFrames | None = None
        self._presence: PresenceTracker | None = None
        self._backlog: CommandBacklog | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.connections: set[Connection] = set()
        self._proxies = parse_networks(settings.trusted_proxies)
        self._connects = AddressLimiter(
            settings.connect_rate_per_s, settings.connect_burst, settings.connect_addresses_max
        )
        self._rechecks: set[asyncio.Task[None]] = set()
        self._open = Gauge(
            "huddle_gateway_connections",
            "Open authenticated WebSocket connections",
            registry=registry,
        )
        self._open.set_function(lambda: len(self.connections))
        self._frames_in = Counter(
            "huddle_gateway_frames_in_total",
            "Client frames by event",
            ["event"],
            registry=registry,
        )
        self._errors = Counter(
            "huddle_gateway_frame_errors_total",
            "Error frames sent, by code",
            ["code"],
            registry=registry,
        )
        self._publish_retries = Counter(
            "huddle_gateway_publish_retries_total",
            "Frames published again because the broker may have taken them unconfirmed",
            registry=registry,
        )
        self._unavailable_log = ThrottledLog(log)
        self._slow_closed = Counter(
            "huddle_gateway_slow_clients_closed_total",
            "Sockets closed 4008 because their send queue overflowed",
            registry=registry,
        )
        self._refused = Counter(
            "huddle_gateway_connections_refused_total",
            "Sockets closed before authentication, by reason",
            ["reason"],
            registry=registry,
        )
        self._dangerous = Counter(
            "huddle_gateway_dangerous_commands_total",
            "Commands and agent messages refused as dangerous",
            registry=registry,
        )
        self._resumes = Counter(
            "huddle_gateway_resumes_total", "Resume requests answered", registry=registry
        )
        self._replayed = Counter(
            "huddle_gateway_replayed_events_total",
            "Events replayed to resuming clients",
            registry=registry,
        )
        self._publish_seconds = Histogram(
            "huddle_gateway_publish_seconds",
            "Publishing a command until the broker confirmed",
            buckets=(0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5),
            registry=registry,
        )
        self._frames_out = Tally()
        registry.register(
            TallyCollector(
                "huddle_gateway_frames_out", "Frames written to sockets", self._frames_out
            )
        )
        queued = Gauge(
            "huddle_gateway_send_queue_frames",
            "Frames waiting in send queues: all sockets (sum) and the fullest (max)",
            ["aggregate"],
            registry=registry,
        )
        queued.labels("sum").set_function(lambda: sum(c.queued for c in self.connections))
        queued.labels("max").set_function(
            lambda: max((c.queued for c in self.connections), default=0)
        )
        self.router = self._routes()

    @property
    def adapters(self) -> Adapters:
        assert self._adapters is not None, "gateway not started"
        return self._adapters

    @property
    def backlog(self) -> CommandBacklog:
        assert self._backlog is not None, "gateway not started"
        return self._backlog

    @property
    def topics(self) -> TopicRouter:
        assert self._topics is not None, "gateway not started"
        return self._topics

    async def start(self, adapters: Adapters) -> None:
        self._adapters = adapters
        self._topics = TopicRouter(
            adapters.fanout,
            adapters.history,
            self.settings.replay_page,
            self.settings.replay_wait_s,
        )
        self._entities = EntityFrames(
            adapters,
            self._subscribe,
            self._unsubscribe,
            publish=self.publish_command,
            refuse=self.refuse_unavailable,
        )
        self._presence = PresenceTracker(
            adapters.presence, adapters.fanout, self.gateway_id, self.settings.presence_ttl_s
        )
        self._presence.start()
        self._backlog = CommandBacklog(
            adapters.bus, self.settings.backlog_poll_s, self.settings.backlog_notice
        )
        self._backlog.start()
        await self._topics.start()
        await adapters.sessions.heartbeat(self.gateway_id, 3 * self.settings.gateway_heartbeat_s)
        self._heartbeat = asyncio.create_task(self._beat())

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self._presence is not None:
            await self._presence.stop()
        if self._backlog is not None:
            await self._backlog.stop()
        for connection in list(self.connections):
            connection.close(GOING_AWAY, "server shutting down")
        for task in list(self._rechecks):
            task.cancel()
        if self._topics is not None:
            await self._topics.stop()

    def ready_problem(self) -> str | None:
        """Why this gateway should get no traffic now, or None."""
        if self._topics is not None and not self._topics.healthy:
            return "fan-out subscription lost; re-subscribing and replaying from history"
        return None

    async def _beat(self) -> None:
        """Keep this gateway's sockets counted towards their users' limits while it lives."""
        interval = self.settings.gateway_heartbeat_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self.adapters.sessions.heartbeat(self.gateway_id, 3 * interval)
            except Exception:
                log.exception("gateway heartbeat failed")

    def _routes(self) -> APIRouter:
        router = APIRouter()

        @router.get("/config.json", tags=["gateway"])
        async def client_config() -> dict[str, Any]:
            """What the browser client needs to know: where auth is, how to reach the socket."""
            return {"auth_url": self.public_auth_url or "", "ws_path": "/ws", **self.api_urls}

        @router.websocket("/ws")
        async def ws(websocket: WebSocket) -> None:
            await self.serve(websocket)

        return router

    # --- the socket ---------------------------------------------------------------------------

    def websocket_endpoints(self) -> dict[str, SocketEndpoint]:
        """`/ws`, served past the HTTP middleware (see `services.common.http.SocketShortcut`)."""
        return {"/ws": self.serve}

    async def serve(self, websocket: WebSocket) -> None:
        """Run one WebSocket from handshake to close."""
        extensions = websocket.scope.get("extensions")
        if extensions is not None:  # from the start: shutdown may come while authenticating
            extensions[REFUSE_WHILE_LEAVING] = refusal_while_leaving
        await websocket.accept()
        peer = websocket.client.host if websocket.client else None
        address = client_address(peer, websocket.headers, self._proxies)
        # Nothing reads the handshake's headers again: not kept for the socket's life (~1 KB).
        websocket.scope["headers"] = []
        vars(websocket).pop("_headers", None)
        if not self._connects.allow(address):
            self._refused.labels("rate_limited").inc()
            await websocket.close(CLOSE_RATE_LIMITED, "too many connections from your address")
            return
        connection = await self._handshake(websocket)
        if connection is None:
            return
        self.connections.add(connection)
        connection.serving = asyncio.current_task()
        connection.start()
        connection.watch_expiry(self.settings.token_leeway_s)
        try:
            connection.reply(
                "connected",
                ConnectedData(
                    session_id=connection.session_id,
                    user=connection.claims.user,
                    heartbeat_interval_s=self.settings.heartbeat_interval_s,
                    server_time=time.time(),
                ),
                None,
            )
            await self._subscribe(connection, user_topic(connection.user_id))
            await self._enforce_connection_limit(connection)
            try:
                await self._read(connection)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not connection.abandoned or task is None:
                    raise
                task.uncancel()  # our own doing: a reader that stopped reading was dropped
                self._slow_closed.inc()
        finally:
            self.connections.discard(connection)
            await self._forget_presence(connection)
            try:
                await self.adapters.sessions.close(
                    connection.user_id, connection.session_id, self.gateway_id
                )
            except Exception:
                log.exception("could not forget session %s", connection.session_id)
            for topic in list(connection.topics):
                await self.topics.remove(connection, topic)
            await connection.stop()

    async def _forget_presence(self, connection: Connection) -> None:
        if self._presence is None:
            return
        user = connection.claims.user
        for channel in list(connection.channels):
            try:
                await self._presence.left(channel, user.id, user.username)
            except Exception:
                log.exception("could not update presence of %s", channel)

    async def _enforce_connection_limit(self, connection: Connection) -> None:
        """Count this socket; over the user's limit, the oldest sockets (on any gateway) go."""
        evicted = await self.adapters.sessions.open(
            connection.user_id,
            connection.session_id,
            self.gateway_id,
            self.settings.max_connections_per_user,
        )
        for session_id in evicted:
            # Every gateway holding this user's sockets hears it; the one with the session acts.
            await self.adapters.fanout.publish(
                user_topic(connection.user_id), evict_frame(session_id)
            )

    async def _handshake(self, websocket: WebSocket) -> Connection | None:
        try:
            message = await asyncio.wait_for(websocket.receive(), self.settings.auth_timeout_s)
        except TimeoutError:
            await websocket.close(CLOSE_AUTH_TIMEOUT, "no auth frame in time")
            return None
        if message["type"] == "websocket.disconnect":
            if message.get(SERVER_LEAVING) is not None:  # not authenticated yet: nothing due
                await websocket.close(GOING_AWAY, "server shutting down")
            return None
        frame = read_frame(message.get("text") or message.get("bytes") or b"")
        if not isinstance(frame, AuthFrame):
            await websocket.close(CLOSE_UNAUTHENTICATED, "first frame must be auth")
            return None
        try:
            claims = await self.verifier.verify(frame.data.token)
        except InvalidToken as exc:
            await websocket.close(CLOSE_UNAUTHENTICATED, f"invalid token: {exc}"[:120])
            return None
        except Exception:
            # The revocation list could not be read: refuse rather than let the token in.
            log.exception("could not check a token")
            await websocket.close(CLOSE_UNAVAILABLE, "authentication unavailable; retry")
            return None
        settings = self.settings
        connection = Connection(
            websocket,
            claims,
            uuid.uuid4().hex,
            send_queue_max=settings.send_queue_max,
            max_pending_commands=settings.max_pending_commands,
            bucket=TokenBucket(
                settings.rate_limit_per_s, settings.rate_limit_burst, settings.rate_limit_strikes
            ),
        )
        connection.on_membership = self._membership_changed
        connection.frames_out = self._frames_out
        return connection

    async def _read(self, connection: Connection) -> None:
        # Frames are handed to an inbox that handles them in order while this loop goes on
        # reading, so the socket keeps answering pings while a command waits for the broker.
        inbox = FrameInbox(self.settings.max_pending_frames)
        extensions = connection.websocket.scope.get("extensions")
        if extensions is not None:  # so that a reader waiting for room reads on to the end
            extensions[ON_LEAVING] = inbox.unbound
        try:
            leaving_by = await self._read_into(connection, inbox)
            if leaving_by is None:
                await inbox.join()  # what the client sent before it went is still handled
                return
            # The server is leaving: the socket stays open for the answers, until the deadline.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(leaving_by):
                    await inbox.join()
            if inbox.waiting:
                leave_unfinished(connection, inbox)
            connection.close(GOING_AWAY, "server shutting down")
        finally:
            inbox.cancel()

    async def _read_into(self, connection: Connection, inbox: FrameInbox) -> float | None:
        """Read frames into the inbox until the socket ends; if the server is leaving, the
        time (the loop's clock) by which to have answered them."""
        websocket = connection.websocket
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                leaving_by = message.get(SERVER_LEAVING)
                return float(leaving_by) if leaving_by is not None else None
            text = message.get("text")
            raw: str | bytes = text if text is not None else message.get("bytes") or b""
            size = len(raw.encode()) if isinstance(raw, str) else len(raw)
            if size > self.settings.max_frame_bytes:
                await inbox.join()
                connection.close(CLOSE_TOO_LARGE, "frame too large")
                return None
            frame = read_frame(raw)
            if not connection.bucket.take():
                self._errors.labels("rate_limited").inc()
                ref = frame.ref if isinstance(frame, FrameError) else frame.id
                inbox.now_or_in_turn(
                    partial(connection.error, "rate_limited", "too many frames: slow down", ref)
                )
                if connection.bucket.abusive():
                    await inbox.join()
                    connection.close(CLOSE_RATE_LIMITED, "rate limit exceeded repeatedly")
                    return None
                continue
            if isinstance(frame, FrameError):
                self._errors.labels(frame.code).inc()
                inbox.now_or_in_turn(
                    partial(connection.error, frame.code, frame.message, frame.ref)
                )
                continue
            self._frames_in.labels(frame.event).inc()
            await inbox.put(partial(self._handle, connection, frame), frame)

    async def _handle(self, connection: Connection, frame: ClientFrame) -> None:
        connection.publish_state = None  # nothing of this frame published yet
        try:
            await self._dispatch(connection, frame)
        except Exception as exc:
            if redis_unavailable(exc):
                # Redis down, read-only or out of memory: an outage, not a bug (no traceback
                # per frame), and nothing was published yet, so sending it again is safe.
                self._errors.labels("unavailable").inc()
                self._unavailable_log.warning("%s not handled: %r", frame.event, exc)
                connection.error(
                    "unavailable",
                    f"the {frame.event} was not accepted: Huddle's data store is unavailable "
                    "for now; send it again shortly",
                    frame.id,
                )
                return
            log.exception("handling %s failed", frame.event)
            self._errors.labels("internal").inc()
            if connection.handed_over():  # after the broker was handed it: it may still run
                _failed_after_hand_over(connection, frame.event, frame.id)
                return
            connection.error("internal", f"the server failed to handle {frame.event}", frame.id)

    async def _dispatch(self, connection: Connection, frame: ClientFrame) -> None:
        if isinstance(frame, CommandFrame):
            await self._command(connection, frame)
        elif isinstance(frame, MessageFrame):
            await self._message(connection, frame)
        elif isinstance(frame, JoinChannelFrame):
            await self._join(connection, frame)
        elif isinstance(frame, LeaveChannelFrame):
            await self._leave(connection, frame)
        elif isinstance(frame, AgentMessageFrame):
            await self._agent_message(connection, frame)
        elif isinstance(frame, PingFrame):
            connection.reply("pong", {"server_time": time.time()}, frame.id)
        elif isinstance(frame, SubscribeFrame):
            assert self._entities is not None
            await self._entities.subscribe(connection, frame)
        elif isinstance(frame, UnsubscribeFrame):
            assert self._entities is not None
            await self._entities.unsubscribe(connection, frame)
        elif isinstance(frame, StateChangeFrame):
            assert self._entities is not None
            await self._entities.state_change(connection, frame)
        elif isinstance(frame, ResumeFrame):
            await self._resume(connection, frame)
        elif isinstance(frame, TypingFrame):
            await self._typing(connection, frame)
        elif isinstance(frame, AuthFrame):
            await self._reauth(connection, frame)
        else:
            connection.error("unknown_event", f"{frame.event} is not supported yet", frame.id)

    # --- events -------------------------------------------------------------------------------

    async def _reauth(self, connection: Connection, frame: AuthFrame) -> None:
        try:
            claims = await self.verifier.verify(frame.data.token)
        except InvalidToken as exc:
            connection.close(CLOSE_UNAUTHENTICATED, f"invalid token: {exc}"[:120])
            return
        if claims.user.id != connection.user_id:
            connection.close(CLOSE_UNAUTHENTICATED, "token is for another user")
            return
        connection.claims = claims
        connection.watch_expiry(self.settings.token_leeway_s)
        connection.reply("auth_refreshed", {"expires_at": claims.expires_at}, frame.id)

    async def _project_channels(
        self, connection: Connection, project_id: str, ref: str | None
    ) -> frozenset[str] | None:
        """The project's channels if the user may use it (remembered per socket), else None."""
        channels = connection.projects.get(project_id)
        if channels is not None:
            return channels
        user: UserInfo = connection.claims.user
        project = await accessible_project(self.adapters.store, project_id, user)
        if project is None:
            connection.error("forbidden", f"project {project_id} not found or not yours", ref)
            return None
        channels = connection.projects[project_id] = frozenset(project.state["channels"])
        return channels

    async def _publish(
        self, connection: Connection, envelope: CommandEnvelope, ref: str | None
    ) -> bool:
        started = time.perf_counter()
        try:
            await self.publish_command(
                f"cmd.{envelope.kind}",
                dumps(envelope),
                envelope.command_id,
                on_sent=connection.publishing(envelope.command_id),
            )
        except BusUnavailable as exc:
            what, command_id = _described(envelope)
            self.refuse_unavailable(connection, exc, ref, what, command_id)
            if isinstance(exc, BusInDoubt):
                connection.in_doubt(envelope.command_id)
            else:
                connection.forget(envelope.command_id)
            return False
        except Exception:
            # Not a broker refusal but a failure of ours, perhaps after the broker took it: the
            # client is told it may still run, and its result, if it comes, still goes out.
            log.exception("publishing a %s failed", envelope.kind)
            self._errors.labels("internal").inc()
            what, command_id = _described(envelope)
            _failed_after_hand_over(connection, what, ref, command_id)
            connection.in_doubt(envelope.command_id)
            return False
        self._publish_seconds.observe(time.perf_counter() - started)
        return True

    async def publish_command(
        self,
        routing_key: str,
        body: bytes,
        message_id: str,
        *,
        on_sent: Callable[[], object] | None = None,
    ) -> None:
        """Publish on the commands exchange; a publish in doubt is retried with the same id.

        Refusing a frame the broker may hold could make the client send it twice; the same id
        again is safe (the orchestrator and the sync intake record each id once).
        """
        await publish_resolving_doubt(
            self.adapters.bus,
            self.adapters.topology.exchange(COMMANDS),
            routing_key,
            body,
            message_id=message_id,
            retry_s=self.settings.publish_retry_s,
            pause_s=min(self.settings.amqp_reconnect_s, 1.0),
            on_retry=self._publish_retries.inc,
            on_sent=on_sent,
        )

    def refuse_unavailable(
        self,
        connection: Socket,
        exc: BusUnavailable,
        ref: str | None,
        what: str,
        command_id: str | None = None,
    ) -> None:
        """Tell the client the broker did not take its `what`; log at most once in a while."""
        self._errors.labels("unavailable").inc()
        self._unavailable_log.warning("frame not accepted: %s", exc)
        extra: dict[str, Any] | None = None
        if isinstance(exc, BusInDoubt):
            message = (
                f"the broker did not confirm the {what} in time: it may still run when the "
                "broker returns"
            )
            # The client can wait on: a result may yet come, by this id after a reconnect.
            extra = {"may_still_run": True}
            if command_id is not None:
                extra["command_id"] = command_id
        elif isinstance(exc, BusBlocked):
            message = (
                f"the {what} was not sent: the message broker refuses new messages for now "
                "(it is low on memory or disk); send it again later"
            )
        else:
            message = f"the {what} was not accepted: broker unavailable"
        connection.error("unavailable", message, ref, extra)

    def _refuse_dangerous(self, connection: Connection, text: str, ref: str | None) -> bool:
        """Answer `invalid_command` (and log it) if the text asks for a dangerous operation."""
        found = dangerous(text)
        if found is None:
            return False
        self._dangerous.inc()
        log.warning(
            "dangerous input refused (%s) from user %s: %r",
            found,
            connection.user_id,
            text[:200],
        )
        connection.error(
            "invalid_command",
            f"Refused: the text contains a potentially dangerous operation ({found})",
            ref,
        )
        return True

    async def _command(self, connection: Connection, frame: CommandFrame) -> None:
        data = frame.data
        if self._refuse_dangerous(connection, data.command, frame.id):
            return
        if data.project_id is not None and (
            await self._project_channels(connection, data.project_id, frame.id) is None
        ):
            return
        command_id = uuid.uuid4().hex
        token = correlation_id.set(command_id)
        try:
            envelope = CommandEnvelope(
                command_id=command_id,
                kind="command",
                user=connection.claims.user,
                session_id=connection.session_id,
                text=data.command,
                project_id=data.project_id,
                channel=data.channel,
                issued_at=time.time(),
            )
            connection.expect_result(command_id, frame.id)
            if await self._publish(connection, envelope, frame.id):
                connection.received(command_id, frame.id, self.backlog.ahead())
        finally:
            correlation_id.reset(token)

    async def _channel_open(
        self, connection: Connection, project_id: str, channel: str, ref: str | None
    ) -> bool:
        """Whether the socket may post to the channel; if not, it has been told why."""
        channels = await self._project_channels(connection, project_id, ref)
        if channels is not None and channel not in channels:
            # Remembered before the channel was created, perhaps: read the project again.
            connection.projects.pop(project_id, None)
            channels = await self._project_channels(connection, project_id, ref)
        if channels is None:
            return False
        if channel not in channels:
            connection.error("not_found", f"channel #{channel} not found", ref)
            return False
        return True

    async def _message(self, connection: Connection, frame: MessageFrame) -> None:
        data = frame.data
        if not await self._channel_open(connection, data.project_id, data.channel, frame.id):
            return
        envelope = CommandEnvelope(
            command_id=uuid.uuid4().hex,
            kind="message",
            user=connection.claims.user,
            session_id=connection.session_id,
            text=data.text,
            project_id=data.project_id,
            channel=data.channel,
            issued_at=time.time(),
        )
        await self._publish(connection, envelope, frame.id)

    async def _agent_message(self, connection: Connection, frame: AgentMessageFrame) -> None:
        data = frame.data
        if self._refuse_dangerous(connection, data.message, frame.id):
            return
        if not await self._channel_open(connection, data.project_id, data.channel, frame.id):
            return
        envelope = CommandEnvelope(
            command_id=uuid.uuid4().hex,
            kind="agent_message",
            user=connection.claims.user,
            session_id=connection.session_id,
            text=data.message,
            project_id=data.project_id,
            channel=data.channel,
            agent_id=data.agent_id,
            context=data.context,
            issued_at=time.time(),
        )
        if await self._publish(connection, envelope, frame.id):
            connection.reply(
                "message_sent",
                {"agent_id": data.agent_id, "command_id": envelope.command_id},
                frame.id,
            )

    async def _may_follow(self, connection: Connection, topic: str) -> bool:
        """Whether the socket's user may receive `topic` (membership, own user topic)."""
        kind, _, rest = topic.partition(":")
        if kind == "user":
            return rest == connection.user_id
        project_id = topic_project(topic)
        if project_id is None:
            return False
        channel = rest.partition("/")[2] if kind == "channel" else ""
        user = connection.claims.user
        project = await accessible_project(self.adapters.store, project_id, user)
        if project is None:
            return False
        return not channel or channel in project.state["channels"]

    async def _resume(self, connection: Connection, frame: ResumeFrame) -> None:
        """Re-follow topics and replay, in order, what the client missed on each."""
        history = self.adapters.history
        answer: dict[str, dict[str, Any]] = {}
        for topic, wanted in frame.data.positions.items():
            if not await self._may_follow(connection, topic):
                answer[topic] = {"recovered": False, "error": "forbidden"}
                continue
            connection.hold(topic)
            last = wanted.seq
            try:
                await self._subscribe(connection, topic)
                if topic.startswith("channel:"):
                    await self._rejoined(connection, topic)  # its presence now reaches it too
                current = await history.position(topic)
                recovered = current.epoch == wanted.epoch and wanted.seq <= current.seq
                while recovered and last < current.seq:
                    entries = await history.since(topic, last, self.settings.replay_page)
                    if not entries or entries[0][0] != last + 1:
                        recovered = False  # trimmed: the gap cannot be filled
                        break
                    for seq, body in entries:
                        last = seq
                        positioned = with_position(body, topic, seq, current.epoch)
                        framed = (
                            change_answer(positioned, connection.session_id)
                            if topic.startswith("user:")
                            else positioned
                        )
                        if framed is None:
                            continue  # another session's answer
                        if not await connection.send_paced(framed, self.settings.replay_wait_s):
                            return
                self._replayed.inc(max(0, last - wanted.seq))
            finally:
                connection.release(topic, last)
            answer[topic] = {
                "recovered": recovered,
                "seq": last if recovered else current.seq,
                "epoch": current.epoch,
            }
        self._resumes.inc()
        connection.reply("resumed", answer, frame.id)

    def _membership_changed(self, connection: Connection, project_id: str, added: bool) -> None:
        task = asyncio.create_task(self._recheck_membership(connection, project_id, added))
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)

    async def _recheck_membership(
        self, connection: Connection, project_id: str, added: bool
    ) -> None:
        """After a membership change: a socket whose user left the project loses its topics.
        The client is told when it gained or lost the project, so its list changes at once
        (an admin removed from the members still sees the project: nothing changes for it)."""
        user = connection.claims.user
        try:
            if await accessible_project(self.adapters.store, project_id, user) is not None:
                if added:
                    changed = {"project_id": project_id, "member": True}
                    connection.reply("membership_changed", changed, None)
                return
            for channel in [c for c in connection.channels if c[0] == project_id]:
                connection.channels.discard(channel)
                if self._presence is not None:
                    await self._presence.left(channel, user.id, user.username)
            for topic in [t for t in connection.topics if topic_project(t) == project_id]:
                await self._unsubscribe(connection, topic)
        except Exception:
            log.exception("could not re-check membership of %s in %s", user.id, project_id)
            connection.close(CLOSE_UNAUTHENTICATED, "membership changed; reconnect")
            return
        connection.error("forbidden", f"you are no longer a member of project {project_id}", None)
        connection.reply("membership_changed", {"project_id": project_id, "member": False}, None)

    async def _rejoined(self, connection: Connection, topic: str) -> None:
        """A resumed channel counts as joined again (presence, leave_channel)."""
        project_id, _, channel = topic.removeprefix("channel:").partition("/")
        await self._make_present(connection, (project_id, channel))

    async def _make_present(self, connection: Connection, channel: tuple[str, str]) -> None:
        """Count the socket as in the channel; the first time, the user is present there."""
        if channel not in connection.channels:
            connection.channels.add(channel)
            assert self._presence is not None
            user = connection.claims.user
            listed = await self._presence.joined(channel, user.id, user.username)
            if listed is not None:
                connection.send(listed)  # the list, for this socket alone

    async def _typing(self, connection: Connection, frame: TypingFrame) -> None:
        ref = frame.data
        if not await self._channel_open(connection, ref.project_id, ref.channel, frame.id):
            return
        user = connection.claims.user
        data = {
            "project_id": ref.project_id,
            "channel": ref.channel,
            "user": {"id": user.id, "username": user.username},
        }
        # Straight to the fan-out: typing is not kept in history.
        await self.adapters.fanout.publish(
            channel_topic(ref.project_id, ref.channel), server_frame("typing", data)
        )

    async def _subscribe(self, connection: Connection, topic: str) -> None:
        if topic not in connection.topics:
            await self.topics.add(connection, topic)  # raises if the subscription failed
            connection.topics.add(topic)

    async def _unsubscribe(self, connection: Connection, topic: str) -> None:
        if topic in connection.topics:
            connection.topics.discard(topic)
            await self.topics.remove(connection, topic)

    async def _join(self, connection: Connection, frame: JoinChannelFrame) -> None:
        ref: ChannelRef = frame.data
        project = await accessible_project(
            self.adapters.store, ref.project_id, connection.claims.user
        )
        if project is None:
            connection.error(
                "forbidden", f"project {ref.project_id} not found or not yours", frame.id
            )
            return
        connection.projects[ref.project_id] = frozenset(project.state["channels"])
        if ref.channel not in project.state["channels"]:
            connection.error("not_found", f"channel #{ref.channel} not found", frame.id)
            return
        channel = channel_topic(ref.project_id, ref.channel)
        project_events = project_topic(ref.project_id)
        # Subscribe, then read: an event in between arrives twice (same seq), never not at all.
        await self._subscribe(connection, channel)
        await self._subscribe(connection, project_events)
        await self._make_present(connection, (ref.project_id, ref.channel))
        history = self.adapters.history
        positions = {
            topic: (await history.position(topic)).model_dump()
            for topic in (channel, project_events)
        }
        epoch = positions[channel]["epoch"]
        recent = [
            {**loads(frame_bytes), "topic": channel, "seq": seq, "epoch": epoch}
            for seq, frame_bytes in await history.latest(channel, self.settings.join_history)
        ]
        connection.reply(
            "joined_channel",
            {
                "project_id": ref.project_id,
                "channel": ref.channel,
                "positions": positions,
                "history": recent,
            },
            frame.id,
        )

    async def _leave(self, connection: Connection, frame: LeaveChannelFrame) -> None:
        ref = frame.data
        if (ref.project_id, ref.channel) in connection.channels:
            connection.channels.discard((ref.project_id, ref.channel))
            assert self._presence is not None
            user = connection.claims.user
            await self._presence.left((ref.project_id, ref.channel), user.id, user.username)
        await self._unsubscribe(connection, channel_topic(ref.project_id, ref.channel))
        if not any(project == ref.project_id for project, _ in connection.channels):
            await self._unsubscribe(connection, project_topic(ref.project_id))
        connection.reply(
            "left_channel", {"project_id": ref.project_id, "channel": ref.channel}, frame.id
        )


def topic_project(topic: str) -> str | None:
    """The project a channel, project or entity topic belongs to; None for other topics."""
    kind, _, rest = topic.partition(":")
    if kind == "channel":
        return rest.partition("/")[0]
    if kind == "project":
        return rest
    if kind == "entity":
        return rest.partition(":")[2].partition(":")[0]
    return None


def create_app(
    settings: GatewaySettings | None = None, adapters: Adapters | None = None
) -> FastAPI:
    """The gateway as its own HTTP app (it also serves the web client)."""
    settings = settings or GatewaySettings()
    registry = new_registry()
    service = GatewayService(settings, registry)

    async def connect() -> Adapters:
        return adapters or await connect_adapters(settings, registry=registry)

    return host_app(
        "Huddle gateway",
        [service],
        registry,
        connect,
        close_adapters=adapters is None,
        static_dir=settings.web_dir,
        # The browser logs in at the auth service, which is another origin in the stack.
        csp_connect_to=list(
            dict.fromkeys(
                origin
                for url in [service.public_auth_url or "", *service.api_urls.values()]
                if (origin := origin_of(url))
            )
        ),
        settings=settings,
    )


def _described(envelope: CommandEnvelope) -> tuple[str, str | None]:
    """What to call the envelope's frame to its sender, and the id a result can be matched by
    after a reconnect (only a command has a result)."""
    command_id = envelope.command_id if envelope.kind == "command" else None
    return envelope.kind.replace("_", " "), command_id


def _failed_after_hand_over(
    connection: Connection, what: str, ref: str | None, command_id: str | None = None
) -> None:
    """Answer `internal` for a frame whose handling failed (a bug) once the broker may have
    taken it: it may still run (a command's result matched by `command_id`)."""
    extra: dict[str, Any] = {"may_still_run": True}
    if command_id is not None:
        extra["command_id"] = command_id
    message = f"the server failed while sending the {what}: it may still run"
    connection.error("internal", message, ref, extra)
