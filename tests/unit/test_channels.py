"""`/channel create`: a project's channels beyond #general, and the limit on how many."""

from __future__ import annotations

import pytest

from tests.harness import ALICE, BOB, Harness


async def test_a_channel_is_created_for_everyone_in_the_project(harness: Harness) -> None:
    assert (await harness.command("/project register Ops")).ok
    created = await harness.command("/channel create design", "ops")
    assert created.ok and created.result is not None
    assert created.result["channels"] == ["general", "design"]
    assert created.result["message"] == "#design created in ops"
    event = next(e for e in harness.of("channel_created"))
    assert event.topic == "project:ops"
    assert (event.data.project_id, event.data.channel, event.data.user) == ("ops", "design", ALICE)
    project = await harness.adapters.store.get("project", "ops")
    assert project is not None and project.state["channels"] == ["general", "design"]
    listed = await harness.command("/project list")
    assert listed.result is not None and listed.result["projects"][0]["channels"] == [
        "general",
        "design",
    ]
    hashed = await harness.command("/channel create #qa_team", "ops")  # a leading # is fine
    assert hashed.ok and hashed.result is not None and hashed.result["channel"] == "qa_team"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ("", "Give the new channel's name, one word"),
        ("two words", "Give the new channel's name, one word"),
        ("Design", "#Design is not a channel name"),
        ("-x", "#-x is not a channel name"),
        ("a" * 65, f"#{'a' * 64} is not a channel name"),
        ("general", "#general already exists"),
    ],
)
async def test_bad_names_are_refused_with_why(harness: Harness, args: str, error: str) -> None:
    assert (await harness.command("/project register Ops")).ok
    refused = await harness.command(f"/channel create {args}".strip(), "ops")
    assert not refused.ok and refused.error == error
    assert refused.hint
    assert not harness.of("channel_created")


async def test_a_name_of_64_characters_is_the_longest(harness: Harness) -> None:
    assert (await harness.command("/project register Ops")).ok
    assert (await harness.command(f"/channel create {'a' * 64}", "ops")).ok


async def test_only_members_may_add_a_channel(harness: Harness) -> None:
    assert (await harness.command("/project register Ops")).ok
    refused = await harness.command("/channel create design", "ops", user=BOB)
    assert not refused.ok
    assert not harness.of("channel_created")


async def test_the_channel_limit_counts_general_too() -> None:
    """HUDDLE_MAX_CHANNELS_PER_PROJECT = 2: #general and one more; a third is refused."""
    harness = await Harness.start(max_channels_per_project=2)
    try:
        assert (await harness.command("/project register Ops")).ok
        assert (await harness.command("/channel create design", "ops")).ok
        refused = await harness.command("/channel create qa", "ops")
        assert not refused.ok
        assert refused.error == "ops has 2 channels, the most it may have"
        assert refused.hint == "Use one of them; the limit is HUDDLE_MAX_CHANNELS_PER_PROJECT"
    finally:
        await harness.stop()
