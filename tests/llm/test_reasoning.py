"""``<think>`` blocks are split from the answer, whatever the delta boundaries."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, strategies as st

from bot.llm.base import ReasoningDelta, TextDelta
from bot.llm.reasoning import ThinkSplitter, split_think


def run(deltas: list[str], index: int = 0) -> tuple[str, str, list[TextDelta | ReasoningDelta]]:
    splitter = ThinkSplitter(index)
    pieces = [p for d in deltas for p in splitter.feed(d)] + splitter.flush()
    answer = "".join(p.text for p in pieces if isinstance(p, TextDelta))
    thought = "".join(p.text for p in pieces if isinstance(p, ReasoningDelta))
    return answer, thought, pieces


def test_plain_answer_passes_through_unchanged() -> None:
    assert run(["Hello", " world"])[:2] == ("Hello world", "")


def test_think_block_at_start_becomes_reasoning() -> None:
    answer, thought, _ = run(["<think>Let me see.</think>\n\nThe answer is 4."])
    assert (answer, thought) == ("The answer is 4.", "Let me see.")


def test_tags_split_across_deltas_at_every_character() -> None:
    text = "<think>plan</think>Answer"
    answer, thought, _ = run(list(text))
    assert (answer, thought) == ("Answer", "plan")


def test_leading_whitespace_before_think_is_ignored() -> None:
    assert run(["\n ", "<th", "ink>x</think>", " y"])[:2] == ("y", "x")


def test_think_later_in_the_answer_is_literal_text() -> None:
    text = "Use <think>tags</think> like this."
    assert run([text])[:2] == (text, "")


def test_leading_whitespace_of_a_plain_answer_is_kept() -> None:
    assert run(["  ", "  code"])[:2] == ("    code", "")


def test_answer_that_only_looks_like_a_tag_start_is_released() -> None:
    assert run(["<th", "ings>"])[:2] == ("<things>", "")
    assert run(["<thi"])[:2] == ("<thi", "")


def test_unclosed_block_is_all_reasoning_including_a_partial_close_tag() -> None:
    assert run(["<think>still thinking </thi"])[:2] == ("", "still thinking </thi")


def test_partial_close_that_is_not_a_close_stays_reasoning() -> None:
    assert run(["<think>a </th", "x> b</think>ok"])[:2] == ("ok", "a </thx> b")


def test_two_blocks_at_the_start_are_both_reasoning() -> None:
    assert run(["<think>a</think>\n<think>b</think>\nc"])[:2] == ("c", "ab")


def test_only_reasoning_and_whitespace_gives_empty_answer() -> None:
    answer, thought, pieces = run(["<think>x</think>", "\n\n"])
    assert (answer, thought) == ("", "x")
    assert all(p.text for p in pieces)


def test_held_back_text_is_at_most_a_tag_long() -> None:
    splitter = ThinkSplitter()
    splitter.feed("<think>")
    pieces = splitter.feed("abcdef</thin")
    assert pieces == [ReasoningDelta("abcdef")]


def test_pieces_keep_the_choice_index() -> None:
    _, _, pieces = run(["<think>a</think>b"], index=3)
    assert {p.index for p in pieces} == {3}


@pytest.mark.parametrize("text", ["", "<think></think>", "<think>"])
def test_empty_pieces_are_never_emitted(text: str) -> None:
    assert all(p.text for p in split_think(text))


THOUGHT = st.text(alphabet="ab <>thinkTHINK\n", max_size=40)  # no "/": cannot close the block
ANSWER = st.text(alphabet="ab <>/thinkTHINK\n", max_size=40)


@given(THOUGHT, ANSWER, st.data())
def test_any_delta_boundaries_give_the_same_split(
    thought: str, answer: str, data: st.DataObject
) -> None:
    text = f"<think>{thought}</think>{answer}"
    whole_answer, whole_thought, _ = run([text])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    deltas = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert run(deltas)[:2] == (whole_answer, whole_thought)
    assert whole_thought == thought


@given(st.text(max_size=60), st.data())
def test_text_without_a_leading_think_is_never_changed(text: str, data: st.DataObject) -> None:
    assume(not text.lstrip().startswith("<think>"))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    deltas = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert run(deltas)[:2] == (text, "")
