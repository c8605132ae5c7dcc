"""Settings of the gateway."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import CommonSettings

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


class GatewaySettings(CommonSettings):
    """WebSocket limits and what the browser client is told."""

    auth_timeout_s: float = Field(default=10.0, gt=0)
    heartbeat_interval_s: float = Field(default=25.0, gt=0)
    max_frame_bytes: int = Field(default=65_536, ge=1024)
    # Frames waiting for a socket; a client that lets this fill is too slow and is closed 4008.
    send_queue_max: int = Field(default=1024, ge=8)
    join_history: int = Field(default=50, ge=0, le=1000)
    # Commands awaiting their result per socket whose `ref` the gateway remembers.
    max_pending_commands: int = Field(default=1000, ge=1)
    # Frames of one socket read and waiting to be handled (in order); at this many the socket
    # is not read until one is done.
    max_pending_frames: int = Field(default=64, ge=1)
    # Events read from history per round trip when a client resumes.
    replay_page: int = Field(default=500, ge=10, le=10_000)
    # How long a replay waits for room in a socket's send queue before closing it 4008.
    replay_wait_s: float = Field(default=10.0, gt=0)
    # Open sockets per user across all gateways; a newer one closes the oldest with 4409.
    max_connections_per_user: int = Field(default=5, ge=1, le=1000)
    # Token bucket per socket: frames per second and burst; over it a frame gets rate_limited.
    rate_limit_per_s: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    # rate_limited answers within 10 s that close the socket 4429.
    rate_limit_strikes: int = Field(default=20, ge=1)
    # New sockets per client address: a token bucket (per second, burst); over it: close 4429.
    connect_rate_per_s: float = Field(default=10.0, gt=0)
    connect_burst: int = Field(default=50, ge=1)
    # Addresses whose connection rate a gateway remembers; the least recent are forgotten.
    connect_addresses_max: int = Field(default=100_000, ge=1)
    # How often a gateway says it is alive (its sockets stop counting 3 beats after it dies).
    gateway_heartbeat_s: float = Field(default=5.0, gt=0)
    # A channel member whose gateway stops renewing disappears after this long.
    presence_ttl_s: float = Field(default=30.0, ge=0.5, le=3600)
    # How long a frame the broker may have taken (its connection dropped before the confirm)
    # is published again, with the same id, before the client is told `unavailable`.
    publish_retry_s: float = Field(default=30.0, ge=0, le=600)
    # How often a gateway reads how many commands wait for the orchestrator, and from how many
    # on `command_received` tells the client (`queued_ahead`) that its answer will be late
    # (1,000: about a second of work for a small machine; fewer would flash on short bursts).
    backlog_poll_s: float = Field(default=1.0, gt=0, le=60)
    backlog_notice: int = Field(default=1000, ge=1)
    web_dir: Path = WEB_DIR
    # The auth URL the browser uses. None: `auth_url` when stand-alone, same origin when embedded.
    public_auth_url: str | None = None
    # Base URL of the HTTP APIs for the browser. None: each service's own port when
    # stand-alone (the local stack), the page's origin when embedded; "" behind a proxy.
    public_api_url: str | None = None
