from __future__ import annotations

from datetime import date

import pytest

from bot.errors import LLMContextTooLong
from bot.model import ChatMessage, Role, TurnStatus
from bot.prompt import PromptBudget, build_messages
from bot.tokens import TokenEstimator

TODAY = date(2026, 11, 25)


def user(text, author="u1", name="Ann"):
    return ChatMessage(Role.USER, text, author_id=author, author_name=name)


def bot(text, status=TurnStatus.COMPLETE):
    return ChatMessage(Role.ASSISTANT, text, status=status)


def build(history, *, context=8192, max_tokens=512, system="Today is {date}. Users: {users}"):
    budget = PromptBudget("m", context, max_tokens)
    return build_messages(system, history, budget, TokenEstimator(), TODAY)


def test_system_prompt_names_date_and_speakers():
    messages = build([user("hi")])
    assert messages[0] == {"role": "system", "content": "Today is 2026-11-25. Users: Ann"}
    assert messages[1:] == [{"role": "user", "content": "hi"}]


def test_failed_stopped_and_superseded_answers_are_not_context():
    history = [
        user("q1"),
        bot("partial", TurnStatus.FAILED),
        bot("cut", TurnStatus.STOPPED),
        bot("old", TurnStatus.SUPERSEDED),
        bot("a1"),
        user("q2"),
    ]
    contents = [m["content"] for m in build(history)[1:]]
    assert contents == ["q1", "a1", "q2"]


def test_multi_user_turns_are_labelled_with_author():
    history = [user("hello", "u1", "Ann"), bot("hi"), user("me too", "u2", "Bob")]
    contents = [m["content"] for m in build(history)[1:]]
    assert contents == ["[Ann] hello", "hi", "[Bob] me too"]


def test_history_is_cut_from_the_oldest_to_fit_the_budget():
    history = [user("x" * 4000), bot("y" * 4000), user("latest question")]
    messages = build(history, context=2000, max_tokens=200)
    assert [m["content"] for m in messages[1:]] == ["latest question"]


def test_leading_assistant_turn_is_dropped():
    history = [user("a" * 3000), bot("short answer"), user("next")]
    messages = build(history, context=1000, max_tokens=100)
    assert messages[1]["role"] == "user"


def test_a_message_too_long_alone_is_a_clear_error():
    with pytest.raises(LLMContextTooLong) as caught:
        build([user("z" * 100_000)], context=4096, max_tokens=1024)
    assert "too long" in caught.value.user_message


def test_calibration_learns_from_billed_tokens():
    estimator = TokenEstimator()
    messages = [{"role": "user", "content": "a" * 1000}]
    before = estimator.estimate_messages("m", messages)
    for _ in range(20):
        estimator.calibrate("m", messages, 504)
    after = estimator.estimate_messages("m", messages)
    assert before == 304
    assert 495 <= after <= 505
    assert estimator.estimate_messages("other", messages) == before


def test_an_orphan_answer_never_follows_another_answer():
    history = [user("q1"), bot("a1"), bot("a2, whose question was deleted"), user("q3")]
    assert [m["content"] for m in build(history)[1:]] == ["q1", "a1", "q3"]


@pytest.mark.parametrize("blank", ["", "  \n"])
def test_a_blank_complete_answer_is_never_sent(blank):
    history = [user("q1"), bot(blank), user("q2")]
    assert [(m["role"], m["content"]) for m in build(history)[1:]] == [
        ("user", "q1"),
        ("user", "q2"),
    ]


def test_the_first_turn_after_the_system_prompt_is_a_user_turn():
    assert [m["role"] for m in build([bot("orphan"), user("q")])] == ["system", "user"]


def test_max_tokens_leaving_no_room_is_named():
    with pytest.raises(LLMContextTooLong) as caught:
        build([user("hi")], context=4096, max_tokens=4000)
    assert "max_tokens (4000)" in caught.value.user_message


def test_a_system_prompt_too_long_is_named():
    with pytest.raises(LLMContextTooLong) as caught:
        build([user("hi")], context=4096, max_tokens=1024, system="x" * 20_000)
    assert "system prompt" in caught.value.user_message
