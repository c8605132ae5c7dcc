"""What is said of a command, UI change or agent step that failed on every delivery.

Without it the sender waited for ever (the client showed "Huddle is working on it…", a moved
board card was neither confirmed nor put back) and a task whose step kept failing stayed
"working" with its sprint stuck. The message itself stays in the dead-letter queue for the
operators (docs/operations.md), under the id named here.
"""

from __future__ import annotations

from services.common.contracts import ChangeEnvelope, CommandEnvelope, DomainEvent, StepEnvelope
from services.common.store import Store

from .agents.provider import PhaseResult, ProviderError
from .context import Context
from .parsing import CommandError, parse
from .unit import Unit

HINT = "Try again in a minute; if it fails again, give your administrator this id."


def _reason(request_id: str, what: str = "handle this") -> str:
    return (
        f"Huddle could not {what}: it failed on every attempt and was set aside for the "
        f"operators (id {request_id})"
    )


def _command_name(envelope: CommandEnvelope) -> str:
    if envelope.kind != "command":
        return envelope.kind  # "message" or "agent_message", as their other answers say
    try:
        return parse(envelope.text).spec.name
    except CommandError:
        return "unknown"


def command_given_up(envelope: CommandEnvelope, store: Store) -> list[DomainEvent]:
    """`command_result ok:false` for the sender of a command, chat or agent message."""
    ctx = Context(f"{envelope.command_id}:given-up", Unit(store), envelope)
    ctx.fail(_command_name(envelope), _reason(envelope.command_id), HINT)
    return ctx.outcome.events


def change_given_up(envelope: ChangeEnvelope, store: Store) -> list[DomainEvent]:
    """`state_change_rejected` for the sender of a UI change (the board puts the card back)."""
    ctx = Context(f"{envelope.request_id}:given-up", Unit(store))
    ctx.reject_change(
        envelope.user.id,
        envelope.session_id,
        envelope.change.change_id,
        _reason(envelope.request_id),
        envelope.ref,
    )
    return ctx.outcome.events


def step_given_up(step: StepEnvelope) -> PhaseResult | ProviderError:
    """The step's work as a failed attempt: the task retries, then blocks, as for any failure."""
    reason = _reason(step.step_id, "run this step")
    if step.kind == "propose_stories":
        return ProviderError(reason)
    return PhaseResult(ok=False, output="", error=reason)
