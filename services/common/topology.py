"""Names of every exchange, queue and Redis key, derived from the namespace in one place."""

from __future__ import annotations

from dataclasses import dataclass

COMMANDS = "commands"
EVENTS = "events"
ORCHESTRATOR_QUEUE = "orchestrator.commands"
SYNC_QUEUE = "sync.events"
METRICS_QUEUE = "metrics.events"
# UI-initiated state changes, from the gateway to the sync service's intake (routing `change.*`).
SYNC_CHANGES_QUEUE = "sync.changes"
CHANGE_REQUEST_KEY = "change.request"
# Validated changes, from the sync service to the orchestrator (caught by its `cmd.#`).
ENTITY_CHANGE_KEY = "cmd.entity_change"

# (queue, exchange, binding key): every queue of the stack and what it receives.
QUEUE_BINDINGS: tuple[tuple[str, str, str], ...] = (
    (ORCHESTRATOR_QUEUE, COMMANDS, "cmd.#"),
    (SYNC_QUEUE, EVENTS, "#"),
    (METRICS_QUEUE, EVENTS, "#"),
    (SYNC_CHANGES_QUEUE, COMMANDS, "change.#"),
)


@dataclass(frozen=True)
class Topology:
    """Broker and Redis names of one Huddle stack (`HUDDLE_NAMESPACE`)."""

    namespace: str

    def exchange(self, name: str) -> str:
        """Full name of a topic exchange (`commands`, `events`)."""
        return f"{self.namespace}.{name}"

    def queue(self, name: str) -> str:
        """Full name of a queue."""
        return f"{self.namespace}.{name}"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dlx"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.namespace}.dead"

    def key(self, *parts: str) -> str:
        """A Redis key under the namespace."""
        return ":".join((self.namespace, *parts))
