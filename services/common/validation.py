"""The seed's command validation: text that asks for something dangerous is refused.

Commands (and messages to agents) are instructions that reach agents, which may one day act
on a shell; these patterns catch the classic ways of asking for harm. Chat messages are data,
not instructions: they are stored as sent and escaped where rendered, never checked here.
"""

from __future__ import annotations

import re

# Between a pipe or a chaining operator and its target, anything but another operator may
# come (as in the seed's `\|.*sh` and `;.*rm`): `| xargs sh`, `| /usr/bin/env bash`, `; /bin/rm`.
_THEN = r"[^|;&\n]*?(?<![\w.-])"

# (what it is, pattern): word-bounded, so "executive" or "sudoku" pass.
DANGEROUS_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("rm -r", r"\brm\s+(?:-{1,2}[\w-]+\s+)*-{1,2}\w*r"),
        ("sudo", r"\bsudo\b"),
        ("exec", r"\bexec\b"),
        ("a pipe into a shell", rf"\|{_THEN}(?:ba|da|z|k|c|tc|fi)?sh\b"),
        (
            "a chained shell command",
            rf"(?:;|&&|\|\|){_THEN}"
            r"(?:rm|curl|wget|sh|bash|nc|chmod|chown|mkfs|dd|shutdown|reboot)\b",
        ),
        ("command substitution", r"\$\("),
        ("mkfs", r"\bmkfs(?:\.\w+)?\b"),
        ("dd onto a device", r"\bdd\s+[^\n]*\bof=/dev/"),
        ("a fork bomb", r":\s*\(\s*\)\s*\{"),
    )
)


def dangerous(text: str) -> str | None:
    """What dangerous operation the text asks for, or None."""
    for name, pattern in DANGEROUS_PATTERNS:
        if pattern.search(text):
            return name
    return None


def strip_nulls(text: str) -> str:
    """The text without NUL characters (they truncate strings in C libraries and logs)."""
    return text.replace("\x00", "")
