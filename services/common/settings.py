"""Settings shared by every service, read from `HUDDLE_*` environment variables."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .addresses import parse_networks

Environment = Literal["development", "test", "production"]


class CommonSettings(BaseSettings):
    """What every service needs: where the broker and Redis are, and how to name things there."""

    model_config = SettingsConfigDict(env_prefix="HUDDLE_", extra="ignore", frozen=True)

    env: Environment = "development"
    namespace: str = Field(default="huddle", pattern=r"^[a-zA-Z0-9_.-]{1,64}$")
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    host: str = "127.0.0.1"
    log_level: str = "INFO"
    # How long a publisher waits for the broker's confirm while the broker confirms nothing at
    # all; a confirm late while others come is waited for (an overloaded broker answers in turn).
    publish_timeout_s: float = Field(default=5.0, gt=0)
    # Pause between attempts to reconnect to the broker after it went away.
    amqp_reconnect_s: float = Field(default=1.0, gt=0, le=60)
    # AMQP heartbeat timeout (whole seconds; 0: none; over one in the AMQP URL). RabbitMQ drops
    # a process that stopped answering (frozen, its loop blocked) 2-3 times this long after its
    # last frame and gives what it held to another consumer; RabbitMQ's own default is 60 s.
    amqp_heartbeat_s: int = Field(default=15, ge=0, le=600)
    prefetch: int = Field(default=64, ge=1, le=10_000)
    # How long a handled message's ack may wait to be sent with others (one `multiple` ack);
    # 0 acks each at once. Only ever after the handler succeeded; a crash meanwhile redelivers.
    ack_batch_s: float = Field(default=0.02, ge=0, le=1)
    # Redeliveries before a message that keeps failing goes to the dead-letter queue.
    delivery_limit: int = Field(default=5, ge=1)
    # How often a fan-out subscription checks itself; three missed probes mark it lost.
    fanout_probe_s: float = Field(default=1.0, gt=0, le=60)
    # Reconnection attempts (with back-off up to 1 s) before a Redis call fails.
    redis_retries: int = Field(default=30, ge=0, le=1000)
    # Connections to Redis per process; at the limit a call waits up to the pool timeout.
    redis_max_connections: int = Field(default=200, ge=1, le=10_000)
    redis_pool_timeout_s: float = Field(default=10.0, gt=0, le=600)
    # How long one Redis call waits for its answer before it fails (and is retried).
    redis_socket_timeout_s: float = Field(default=10.0, gt=0, le=600)
    # How long the record of a processed command (or appended event) is kept for idempotency.
    idempotency_ttl_s: int = Field(default=86_400, ge=60)
    # Clock skew tolerated on token times; a socket closes this long after its token expired.
    token_leeway_s: float = Field(default=5.0, ge=0, le=300)
    # Shortest time between two JWKS fetches (a token with an unknown `kid` triggers one).
    jwks_min_refresh_s: float = Field(default=10.0, ge=0.1, le=3600)
    # How long a fetch of those keys may take; one that fails leaves the token unverified.
    jwks_fetch_timeout_s: float = Field(default=5.0, gt=0, le=60)
    jwt_issuer: str = "huddle-auth"
    jwt_audience: str = "huddle"
    # Where services that do not sign tokens fetch the auth service's public keys.
    auth_url: str = "http://127.0.0.1:8001"
    # Browser origins allowed to call the HTTP APIs across origins; empty: the gateway's own.
    cors_origins: tuple[str, ...] = ()
    # Proxies (addresses or CIDR networks) whose X-Forwarded-For names the real client, for
    # the per-address limits; empty: the peer address is the client.
    trusted_proxies: tuple[str, ...] = ()
    # Served over TLS (behind a TLS-terminating proxy): send HSTS on every response.
    behind_tls: bool = False
    hsts_max_age_s: int = Field(default=31_536_000, ge=0)
    # Largest HTTP request body; a larger one is answered 413 before it is read.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # HTTP API requests (`/api/…`, `/auth/…`) one client address may make per minute, per
    # process; over it: 429 `rate_limited` with `Retry-After`. 0: no limit.
    http_rate_limit_per_min: int = Field(default=600, ge=0, le=1_000_000)
    gateway_port: int = 8000
    auth_port: int = 8001
    orchestrator_port: int = 8002
    sync_port: int = 8003
    metrics_port: int = 8004

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_networks(value)  # raises on an entry that is neither an address nor a network
        return value

    @model_validator(mode="after")
    def _no_default_broker_credentials(self) -> CommonSettings:
        if self.env == "production" and urlsplit(self.amqp_url).password in ("guest", ""):
            raise ValueError(
                "HUDDLE_AMQP_URL has the default (guest) or an empty password; "
                "refusing to start with HUDDLE_ENV=production"
            )
        return self

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """`cors_origins`, or the gateway's origin (where the stack serves the web client)."""
        if self.cors_origins:
            return self.cors_origins
        port = self.gateway_port
        return (f"http://localhost:{port}", f"http://127.0.0.1:{port}")

    @property
    def is_development(self) -> bool:
        """True where demo users and generated keys are allowed: nowhere but `development`."""
        return self.env == "development"
