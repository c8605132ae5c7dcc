"""Settings of the metrics service."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class MetricsSettings(CommonSettings):
    """How often the metrics service samples, and how much it keeps."""

    # How often a sample is added to the history behind `/api/performance/history`.
    performance_sample_s: float = Field(default=10.0, ge=0.1, le=3600)
    # How much history is kept (older samples drop out of the ring buffer).
    performance_history_minutes: int = Field(default=60, ge=1, le=10_080)
    # The window of `commands_per_second` and of the response-time percentiles.
    performance_window_s: float = Field(default=60.0, ge=1, le=3600)
    # Command latencies kept for the percentiles (the newest, within the window).
    performance_latency_samples: int = Field(default=10_000, ge=100, le=1_000_000)
    # How often the depth of every queue is read from the broker (huddle_bus_queue_messages).
    queue_poll_s: float = Field(default=5.0, ge=0.1, le=300)
    # Agent tasks and sprints followed at once; beyond it the oldest are forgotten.
    max_tracked: int = Field(default=10_000, ge=10, le=1_000_000)
