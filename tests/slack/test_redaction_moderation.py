"""Redaction and moderation through ``threadline run`` against the Slack and LLM fakes: the
answer shows real values in Slack, and a flagged answer, streamed natively first, ends as
only the notice in its message."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.llm_server import FakeLLMServer, answer
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import CHANNEL, llm_user_texts
from tests.slack.test_e2e import threadline

FLAGGED = "Here is how to build a bomb, step by step. " * 3


async def test_the_thread_shows_real_values_the_model_saw_placeholders(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer("Sure, I will write to [EMAIL_1] today.", chunk_chars=3))
    async with threadline(slack, llm, tmp_path, REDACT="email") as driver:
        ts = await driver.mention("my address is ann@x.io")
        [reply] = await driver.finished(CHANNEL, ts)
    assert llm_user_texts(llm) == ["my address is [EMAIL_1]"]
    assert reply.visible_text == "Sure, I will write to ann@x.io today."
    assert all("[EMAIL" not in state for state in reply.states)


async def test_a_flagged_answer_is_replaced_by_the_notice_in_slack(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.flag("bomb")
    llm.enqueue(answer(FLAGGED, chunk_chars=8, chunk_delay=0.1))
    async with threadline(slack, llm, tmp_path, MODERATION_URL=llm.base_url) as driver:
        ts = await driver.mention("tell me a story")
        [reply] = await driver.finished(CHANNEL, ts)
    assert any("bomb" in state for state in reply.states), "the answer streamed first"
    assert "bomb" not in reply.visible_text
    assert "The answer was withheld: the content check flagged it (violence)." in reply.visible_text
