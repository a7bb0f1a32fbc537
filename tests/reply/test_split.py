"""Splitting text into messages: boundaries, code fences, exact join, stability."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bot.reply import split
from tests.reply.conftest import fence_open_after
from tests.reply.strategies import answers


def test_short_text_is_one_part() -> None:
    assert split.split_text("hello", 100) == ["hello"]
    assert split.split_text("", 100) == [""]


def test_prefers_paragraph_break() -> None:
    text = "a" * 60 + "\n\n" + "b" * 30 + "\nc" + " d" * 40
    parts = split.split_text(text, 100)
    assert parts[0] == "a" * 60 + "\n\n"


def test_prefers_line_then_sentence_then_word() -> None:
    line = "first line " * 6 + "\n" + "second " * 20
    assert split.split_text(line, 100)[0].endswith("\n")
    sentence = "One two three four five six seven eight. Nine ten eleven " * 3
    first = split.split_text(sentence, 100)[0]
    assert first.endswith("eight. ") and len(first) > 50
    words = "alpha beta gamma " * 10
    first = split.split_text(words, 64)[0]
    assert first.endswith(" ") and len(first) <= 64 and "alph" not in first.split()[-1][:-1]


def test_hard_cut_without_any_boundary() -> None:
    text = "z" * 250
    parts = split.split_text(text, 100)
    assert [len(part) for part in parts] == [100, 100, 50]


def test_code_fence_closed_and_reopened_with_language() -> None:
    code = "\n".join(f"print({n})" for n in range(40))
    text = f"Intro.\n\n```python\n{code}\n```\nAfter."
    parts = split.split_text(text, 120)
    assert len(parts) >= 3
    for part in parts[1:-1]:
        assert part.startswith("```python\n")
    for part in parts[:-1]:
        assert part.endswith("```")
        assert fence_open_after(part) is None
    assert split.join_parts(parts) == text


def test_long_code_line_split_mid_line_round_trips() -> None:
    text = "~~~js\n" + "q" * 300 + "\n~~~\n"
    parts = split.split_text(text, 100)
    assert parts[1].startswith("~~~js \n")  # the space marks a cut inside a line
    assert all(len(part) <= 100 for part in parts)
    assert split.join_parts(parts) == text


def test_no_empty_code_block_right_after_an_opener() -> None:
    text = "```\n" + "a" * 500 + "\n```"
    first = split.split_text(text, 100)[0]
    assert first.startswith("```\na")


def test_join_rejects_parts_that_lost_their_markers() -> None:
    parts = split.split_text("```py\n" + "line\n" * 60 + "```", 100)
    with pytest.raises(ValueError, match="reopen"):
        split.join_parts([parts[0], parts[1].removeprefix("```py\n")])
    with pytest.raises(ValueError, match="without closing"):
        split.join_parts([parts[0].removesuffix("```"), parts[1]])


def test_room_below_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        split.split_text("text", split.MIN_ROOM - 1)


def _pathological(text: str, max_chars: int) -> bool:
    """A fence-like line wider than a message cannot be kept balanced (documented)."""
    return any(
        split.is_fence_like(line) and len(line) > max_chars // 2 for line in text.split("\n")
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers, st.integers(64, 2000))
def test_split_round_trips_and_respects_limits(text: str, max_chars: int) -> None:
    parts = split.split_text(text, max_chars)
    assert split.join_parts(parts) == text
    assert all(len(part) <= max_chars for part in parts)
    if not _pathological(text, max_chars):
        for part in parts[:-1]:
            assert fence_open_after(part) is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers, st.integers(64, 600), st.integers(0, 20_000))
def test_cut_is_stable_once_lookahead_is_known(text: str, room: int, grown: int) -> None:
    """The first chunk of a prefix equals that of the whole text once the window is known."""
    prefix = text[: max(room + split.LOOKAHEAD, grown)]
    first = split.next_chunk(prefix, 0, None, room)
    if first.end < len(prefix):
        assert split.next_chunk(text, 0, None, room) == first
