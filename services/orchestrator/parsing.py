"""Turning the text a user typed into a command name and its arguments."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from .workflow import COMMANDS, GROUPS, CommandSpec

UNKNOWN_HINT = "Use /state to see available commands"


@dataclass(frozen=True)
class ParsedCommand:
    spec: CommandSpec
    args: list[str]


class CommandError(Exception):
    """The text is not a valid command; carries the error and a hint for the user."""

    def __init__(self, error: str, hint: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.hint = hint


def parse(text: str) -> ParsedCommand:
    """Parse `/name [sub] args...`; quotes group words. Raise `CommandError` if it is not one."""
    stripped = text.strip()
    head = stripped.split(maxsplit=1)[0] if stripped else ""
    if not head.startswith("/") or len(head) < 2:
        raise CommandError(f"Unknown command: {head or '(empty)'}", UNKNOWN_HINT)
    try:
        words = shlex.split(stripped)
    except ValueError as exc:
        raise CommandError(
            f"Could not read the command: {exc}", "Close every quote you open"
        ) from exc
    name = words[0]
    if name in GROUPS:
        subs = sorted(s.split(" ", 1)[1] for s in COMMANDS if s.startswith(name + " "))
        if len(words) < 2:
            raise CommandError(f"{name} needs a sub-command", f"Use {name} {'|'.join(subs)}")
        name = f"{name} {words[1]}"
        if name not in COMMANDS:
            raise CommandError(f"Unknown command: {name}", f"Use {words[0]} {'|'.join(subs)}")
        return ParsedCommand(COMMANDS[name], words[2:])
    if name not in COMMANDS:
        raise CommandError(f"Unknown command: {name}", UNKNOWN_HINT)
    return ParsedCommand(COMMANDS[name], words[1:])
