"""Running a service (or the embedded whole) under uvicorn, with a clear word on bad settings."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from .logs import configure_logging
from .runtime_settings import RuntimeSettings
from .settings import CommonSettings
from .shutdown import going_away_protocol

S = TypeVar("S", bound=BaseSettings)


def load_settings(factory: Callable[[], S]) -> S:
    """Read settings from the environment or exit with a message saying what is wrong."""
    try:
        return factory()
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
            for e in exc.errors()
        ]
        sys.stderr.write("huddle: refusing to start, invalid settings:\n" + "\n".join(lines) + "\n")
        raise SystemExit(2) from None
    except ValueError as exc:
        sys.stderr.write(f"huddle: refusing to start: {exc}\n")
        raise SystemExit(2) from None


def serve(
    name: str,
    app: FastAPI,
    settings: CommonSettings,
    port: int,
    max_frame_bytes: int = 1 << 20,
    heartbeat_s: float = 25.0,
) -> None:
    """Serve `app` on `settings.host:port` until SIGINT/SIGTERM.

    SIGTERM stops accepting and reading WebSockets, lets each answer the frames it had read and
    closes it with 1001, waits for requests in flight, then stops the components (consumers
    drain); each of the two waits is bounded by `HUDDLE_DRAIN_S`. WebSocket pings every
    `heartbeat_s` close a peer that does not answer within as long.
    """
    configure_logging(name, settings.log_level)
    drain_s = load_settings(RuntimeSettings).drain_s
    uvicorn.run(
        app,
        host=settings.host,
        port=port,
        log_config=None,
        access_log=False,
        ws=going_away_protocol(drain_s),  # websockets-sansio: answer, then 1001 at shutdown
        ws_max_size=max_frame_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=heartbeat_s,
        ws_ping_timeout=heartbeat_s,
        # Sockets close within drain_s of SIGTERM (a second more at worst); the rest is for
        # requests in flight.
        timeout_graceful_shutdown=math.ceil(drain_s) + 5,
        # X-Forwarded-For is believed only from the configured proxies, never by default:
        # otherwise any local process could pick its address for the per-address limits.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
    )
