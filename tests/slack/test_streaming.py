"""Native streaming and its chat.update fallbacks, observed on the fake Slack (in-process bot)."""

from __future__ import annotations

from pathlib import Path

from adapters.slack.sink import MAX_CHARS
from bot.reply.split import join_parts
from tests.fakes.llm_server import FakeLLMServer, answer
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import CHANNEL, Bot, running_bot

STREAM_METHODS = {"chat.startStream", "chat.appendStream", "chat.stopStream"}
CODE = "```python\n" + "".join(f"print('line {i:04d} of a long listing')\n" for i in range(160))
LONG_ANSWER = "Here is the program:\n\n" + CODE + "```\n\nThat's all."


async def test_a_long_answer_continues_in_new_thread_messages_without_breaking_code(
    bot: Bot,
) -> None:
    bot.llm.enqueue(answer(LONG_ANSWER, chunk_chars=400, chunk_delay=0.01))
    ts = await bot.mention("write a long program")
    replies = await bot.finished(CHANNEL, ts, count=2)
    parts = [m.visible_text for m in replies]
    assert len(parts) == 2
    assert all(len(p) <= MAX_CHARS for p in parts)
    assert all(p.count("```") % 2 == 0 for p in parts), "every message closes its code fence"
    assert join_parts(parts) == LONG_ANSWER
    assert all(m.thread_ts == ts for m in replies)


async def test_without_native_streaming_methods_answers_use_post_and_update(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    slack.unknown_methods |= STREAM_METHODS
    async with running_bot(slack, llm, db) as bot:
        first = await bot.mention("one")
        [reply] = await bot.finished(CHANNEL, first)
        second = await bot.mention("two")
        await bot.finished(CHANNEL, second)
    assert reply.visible_text == "You said: one"
    assert len(slack.called("chat.startStream")) == 1, "learned once, then not tried again"
    assert slack.called("chat.postMessage") and slack.called("chat.update")


async def test_a_refused_stop_button_chunk_still_streams_natively(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    slack.reject_block_chunks = True
    async with running_bot(slack, llm, db) as bot:
        ts = await bot.mention("hello")
        [reply] = await bot.finished(CHANNEL, ts)
        again = await bot.mention("again")
        await bot.finished(CHANNEL, again)
    starts = slack.called("chat.startStream")
    assert [c.status for c in starts] == [200, 200, 200]
    assert [c.error for c in starts] == ["invalid_chunks", "", ""]
    assert reply.visible_text == "You said: hello"


async def test_a_rate_limited_stream_start_falls_back_to_posting(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    slack.rate_limit_next("chat.startStream", 1, retry_after=0)
    async with running_bot(slack, llm, db) as bot:
        ts = await bot.mention("busy workspace")
        [reply] = await bot.finished(CHANNEL, ts)
    assert reply.visible_text == "You said: busy workspace"
    assert slack.called("chat.postMessage")[0].args["thread_ts"] == ts


async def test_stream_errors_hand_the_same_message_to_chat_update(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    slack.fail_next("chat.appendStream", "internal_error")
    slack.fail_next("chat.stopStream", "internal_error", count=5)
    llm.enqueue(answer("x" * 300 + " done", chunk_chars=10, chunk_delay=0.03))
    async with running_bot(slack, llm, db) as bot:
        ts = await bot.mention("go")
        [reply] = await bot.finished(CHANNEL, ts)
    assert reply.visible_text == "x" * 300 + " done"
    assert {c.args["ts"] for c in slack.called("chat.update")} == {reply.ts}


async def test_model_failure_keeps_partial_text_and_shows_a_notice(bot: Bot) -> None:
    from tests.fakes.llm_server import error

    bot.llm.enqueue(error(401))
    ts = await bot.mention("hi")
    [reply] = await bot.finished(CHANNEL, ts)
    assert "LLM_API_KEY" in reply.visible_text
    assert "threadline_regenerate" in reply.action_ids


async def test_a_slack_without_markdown_blocks_still_gets_text_and_buttons(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    slack.reject_markdown_blocks = True
    async with running_bot(slack, llm, db, SLACK_NATIVE_STREAMING="false") as bot:
        ts = await bot.mention("plain please")
        [reply] = await bot.finished(CHANNEL, ts)
        again = await bot.mention("again")
        [second] = await bot.finished(CHANNEL, again)
    assert reply.visible_text == "You said: plain please" == reply.text
    assert second.visible_text == "You said: again"
    refused = [c for c in slack.calls if c.error == "invalid_blocks"]
    assert len(refused) == 1, "learned once for the whole process"
