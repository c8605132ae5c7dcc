"""Parsing what a user typed into a command."""

from __future__ import annotations

import pytest

from services.orchestrator.parsing import UNKNOWN_HINT, CommandError, parse


@pytest.mark.parametrize("text", ["/unknown", "/ep", "/EPIC", "", "   ", "/", "hello"])
def test_unknown_or_malformed_commands(text: str) -> None:
    """Anything not in the command table is unknown, with the same hint."""
    with pytest.raises(CommandError) as error:
        parse(text)
    assert error.value.error.startswith("Unknown command: ")
    assert error.value.hint == UNKNOWN_HINT


def test_quoted_arguments_stay_together() -> None:
    """Quotes group words into one argument."""
    parsed = parse('/epic "User authentication" extra')
    assert parsed.spec.name == "/epic"
    assert parsed.args == ["User authentication", "extra"]


def test_sub_commands() -> None:
    """`/sprint plan 1 2` is the command `/sprint plan` with two arguments."""
    parsed = parse("/sprint plan 1 2")
    assert (parsed.spec.name, parsed.args) == ("/sprint plan", ["1", "2"])


def test_group_without_sub_command_says_which_exist() -> None:
    """`/sprint` alone names its sub-commands."""
    with pytest.raises(CommandError) as error:
        parse("/sprint")
    assert error.value.error == "/sprint needs a sub-command"
    assert error.value.hint == "Use /sprint pause|plan|resume|start|status"


def test_unknown_sub_command() -> None:
    with pytest.raises(CommandError) as error:
        parse("/project delete x")
    assert error.value.error == "Unknown command: /project delete"


def test_unclosed_quote_is_explained() -> None:
    with pytest.raises(CommandError) as error:
        parse('/epic "never closed')
    assert "No closing quotation" in error.value.error
