"""Prometheus metrics of the adapters every service shares: the bus and the Redis probe."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Confirm and handling latencies: sub-millisecond on a healthy local broker, seconds when not.
BUS_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 5, 10)
REDIS_BUCKETS = (0.0001, 0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)


class BusMetrics:
    """What a bus does: publishes and their confirms, deliveries and how each one ended.

    Exchanges and queues are labelled by their name without the namespace (`commands`,
    `orchestrator.commands`), so dashboards work for every `HUDDLE_NAMESPACE`. Without a
    registry the metrics count but are exported nowhere.
    """

    def __init__(self, registry: CollectorRegistry | None = None, namespace: str = "") -> None:
        self._prefix = f"{namespace}." if namespace else ""
        self.published = Counter(
            "huddle_bus_published_total",
            "Messages published, by exchange and outcome (ok: confirmed; failed: not taken; "
            "blocked: not sent, the broker blocked publishers)",
            ["exchange", "outcome"],
            registry=registry,
        )
        self.confirm_seconds = Histogram(
            "huddle_bus_publish_confirm_seconds",
            "Publishing a message until the broker confirmed it",
            ["exchange"],
            buckets=BUS_BUCKETS,
            registry=registry,
        )
        self.consumed = Counter(
            "huddle_bus_consumed_total",
            "Deliveries handled, by queue and outcome (ack, requeue, dead_letter)",
            ["queue", "outcome"],
            registry=registry,
        )
        self.handle_seconds = Histogram(
            "huddle_bus_handle_seconds",
            "Handling one delivery, from its arrival to its ack, requeue or rejection",
            ["queue"],
            buckets=BUS_BUCKETS,
            registry=registry,
        )
        self.redelivered = Counter(
            "huddle_bus_redelivered_total",
            "Deliveries that had been delivered before (a requeue or a consumer that died)",
            ["queue"],
            registry=registry,
        )
        self.retries = Counter(
            "huddle_bus_handle_retries_total",
            "Handlings run again in place after a transient failure (Redis or the broker "
            "unavailable), by queue",
            ["queue"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "huddle_bus_dead_lettered_total",
            "Messages sent to the dead-letter queue, by queue and reason "
            "(rejected: invalid; delivery_limit: kept failing)",
            ["queue", "reason"],
            registry=registry,
        )

    def publishing(self, exchange: str) -> None:
        """Export the exchange's series at zero, so rates and alerts have them from the start."""
        name = self.short(exchange)
        for outcome in ("ok", "failed", "blocked"):
            self.published.labels(name, outcome)
        self.confirm_seconds.labels(name)

    def consuming(self, queue: str) -> None:
        """Export the queue's series at zero (see `publishing`)."""
        name = self.short(queue)
        for outcome in ("ack", "requeue", "dead_letter"):
            self.consumed.labels(name, outcome)
        for reason in ("rejected", "delivery_limit"):
            self.dead_lettered.labels(name, reason)
        self.handle_seconds.labels(name)
        self.redelivered.labels(name)
        self.retries.labels(name)

    def short(self, name: str) -> str:
        """An exchange or queue name without the namespace."""
        return name.removeprefix(self._prefix)

    def publish_ok(self, exchange: str, seconds: float) -> None:
        """A publish the broker confirmed after `seconds`."""
        name = self.short(exchange)
        self.published.labels(name, "ok").inc()
        self.confirm_seconds.labels(name).observe(seconds)

    def publish_failed(self, exchange: str) -> None:
        """A publish the broker did not confirm."""
        self.published.labels(self.short(exchange), "failed").inc()

    def publish_blocked(self, exchange: str) -> None:
        """A publish not sent: the broker blocked publishers (a memory or disk alarm)."""
        self.published.labels(self.short(exchange), "blocked").inc()

    def delivered(self, queue: str, *, redelivered: bool) -> None:
        """A delivery arrived."""
        if redelivered:
            self.redelivered.labels(self.short(queue)).inc()

    def retried(self, queue: str) -> None:
        """A handling failed for a transient reason and runs again."""
        self.retries.labels(self.short(queue)).inc()

    def handled(self, queue: str, outcome: str, seconds: float) -> None:
        """A delivery was acked, requeued or dead-lettered after `seconds`."""
        name = self.short(queue)
        self.consumed.labels(name, outcome).inc()
        self.handle_seconds.labels(name).observe(seconds)

    def dead_letter(self, queue: str, reason: str) -> None:
        """A message went to the dead-letter queue."""
        self.dead_lettered.labels(self.short(queue), reason).inc()


class RedisMetrics:
    """Round trips to Redis as the probe measures them, and whether the last one worked."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.roundtrip = Histogram(
            "huddle_redis_roundtrip_seconds",
            "PING to Redis and back, measured by each service's probe",
            buckets=REDIS_BUCKETS,
            registry=registry,
        )
        self.up = Gauge(
            "huddle_redis_up", "1 if the last Redis probe was answered, else 0", registry=registry
        )
        self.failures = Counter(
            "huddle_redis_probe_failures_total", "Redis probes that failed", registry=registry
        )
