"""Reading PromQL without a parser: the vector selectors an expression is made of."""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
      "(?:\\.|[^"\\])*" | '(?:\\.|[^'\\])*'        # strings
    | \[[^\]]*\]                                   # ranges and subqueries
    | \{[^}]*\}                                    # label matchers
    | \d+(?:ms|[smhdwy])\b                         # durations (after offset)
    | \d+(?:\.\d+)?(?:[eE][+-]?\d+)?               # numbers
    | [A-Za-z_:][A-Za-z0-9_:]*                     # names
    | \S                                           # operators, parentheses, commas
    """,
    re.VERBOSE,
)
# Followed by a parenthesised list of label names, not of expressions.
_LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})


def selectors(expr: str) -> list[str]:
    """The vector selectors of `expr` (`name{matchers}`), in order, each once."""
    tokens = _TOKEN.findall(expr)
    found: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        i += 1
        if not re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", token) or token.lower() in _KEYWORDS:
            continue
        if token in _LABEL_LISTS:
            if following == "(":
                i = tokens.index(")", i) + 1
            continue
        if following == "(" or following in ("by", "without"):
            continue  # a function or an aggregation (`sum by (job) (...)`)
        selector = token + following if following.startswith("{") else token
        if selector not in found:
            found.append(selector)
    return found


def metric_name(selector: str) -> str:
    """The metric name of a selector."""
    return selector.split("{", 1)[0]


def matched_labels(selector: str) -> list[str]:
    """The label names a selector's matchers test (`{status=~"5.."}` → `["status"]`)."""
    _, _, matchers = selector.partition("{")
    return re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", matchers)
