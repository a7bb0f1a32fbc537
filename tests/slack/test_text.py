"""Pure helpers: sanitising output, cleaning input, holding back half-written pings."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from adapters.slack.blocks import answer_blocks, parse_button_value
from adapters.slack.text import (
    WORD_JOINER,
    MentionPolicy,
    clean_incoming,
    mentions,
    mentions_someone_else,
    sanitize,
    split_safe,
    title_from,
)

PINGS = [
    "<!here>",
    "<!channel>",
    "<!everyone>",
    "<!here|@here>",
    "<!subteam^S0DEV|@devs>",
    "<!subteam^S0DEV>",
    "@here",
    "@channel",
    "@everyone",
    "<!HERE>",
]


@pytest.mark.parametrize("ping", PINGS)
def test_sanitize_neutralises_every_mass_mention(ping: str) -> None:
    out = sanitize(f"Attention {ping} please")
    assert "<!" not in out
    for word in ("@here", "@channel", "@everyone", "@devs"):
        assert word not in out.lower()
    assert f"@{WORD_JOINER}" in out


def test_sanitize_keeps_ordinary_text_and_allowed_user_mentions() -> None:
    text = "Mail me@example.com, ask <@U123> or see <https://x.y|docs> & `code`"
    assert sanitize(text, MentionPolicy(allow_all=True)) == text
    assert sanitize(text, MentionPolicy(asker="U123")) == text


@given(st.text(alphabet="<>!@^|hereveryonchanlsubtm ", max_size=40))
def test_sanitize_is_idempotent_and_leaves_no_pings(text: str) -> None:
    once = sanitize(text)
    assert sanitize(once) == once
    assert "<!here" not in once and "<!channel" not in once and "<!everyone" not in once


@given(st.text(max_size=60))
def test_split_safe_loses_nothing(text: str) -> None:
    send, keep = split_safe(text)
    assert send + keep == text


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Hello <!he", "<!he"),
        ("Hi @chan", "@chan"),
        ("done.", ""),
        ("a <b> c", ""),
        ("Mail me@", "@"),
    ],
)
def test_split_safe_holds_back_a_possible_ping(text: str, kept: str) -> None:
    assert split_safe(text)[1] == kept


def test_clean_incoming_drops_the_leading_bot_mention_and_unescapes() -> None:
    text = "<@U0BOT> is 1 &lt; 2 &amp;&amp; 3 &gt; 2? ask <@U0BOT|threadline> or <@U0BOB>"
    assert clean_incoming(text, "U0BOT", "Threadline") == (
        "is 1 < 2 && 3 > 2? ask @Threadline or <@U0BOB>"
    )


def test_mentions() -> None:
    assert mentions("hey <@U0BOT>", "U0BOT")
    assert not mentions("hey <@U0BOTX>", "U0BOT")
    assert mentions_someone_else("<@U0BOB> look", "U0BOT")
    assert not mentions_someone_else("<@U0BOB> and <@U0BOT>", "U0BOT")
    assert not mentions_someone_else("nobody", "U0BOT")


def test_title_is_the_first_line_shortened() -> None:
    assert title_from("\n  How do I\nsecond line") == "How do I"
    long = title_from("x" * 200)
    assert len(long) == 60 and long.endswith("…")


def test_button_values_round_trip_and_reject_foreign_values() -> None:
    assert parse_button_value("C1|1700.1") == ("C1", "1700.1")
    assert parse_button_value("D1|") == ("D1", "")
    for bad in ("", "nopipe", "|x", "a|b|c"):
        with pytest.raises(ValueError):
            parse_button_value(bad)


def test_answer_blocks_show_stop_while_streaming_and_regenerate_after() -> None:
    live = answer_blocks("hi", final=False, value="C|1")
    done = answer_blocks("hi", final=True, value="C|1")
    assert live[0] == {"type": "markdown", "text": "hi"}
    assert [e["action_id"] for e in live[1]["elements"]] == ["threadline_stop"]
    assert [e["action_id"] for e in done[1]["elements"]] == [
        "threadline_regenerate",
        "threadline_feedback_up",
        "threadline_feedback_down",
    ]
