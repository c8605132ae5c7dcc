"""Settings of the adapters' own background work, read by every service (`HUDDLE_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RuntimeSettings(BaseSettings):
    """The Redis probe, and the drain of sockets and consumers at shutdown."""

    model_config = SettingsConfigDict(env_prefix="HUDDLE_", extra="ignore", frozen=True)

    # How often each service PINGs Redis to measure the round trip.
    redis_probe_s: float = Field(default=5.0, gt=0, le=300)
    # A probe not answered within this long counts as failed (huddle_redis_up 0).
    redis_probe_timeout_s: float = Field(default=2.0, gt=0, le=60)
    # At shutdown: how long each WebSocket may take to answer the frames it had read before
    # it is closed 1001, and, after consuming stopped, how long handlers in flight may finish
    # and ack (those still running are then cancelled; the broker requeues what is unacked).
    drain_s: float = Field(default=5.0, ge=0, le=120)
