"""End to end: ``python -m bot run`` as a subprocess against the Slack and LLM fakes.

Only the environment a user would set is given: SLACK_BOT_TOKEN + SLACK_APP_TOKEN (Socket
Mode), SLACK_API_URL pointing at the fake, the LLM_* variables and DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from bot.commands import HELP, NOT_ALLOWED
from tests.fakes.llm_server import FakeLLMServer, answer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import assistant_thread_started, mention_event, message_event
from tests.slack.harness import ADMIN, ALICE, CHANNEL, DM, Driver, bot_env, llm_user_texts
from tests.slack.process import free_port, threadline_run

LONG = "First paragraph of a long answer.\n\n" + "".join(
    f"Line {i} of the answer.\n" for i in range(40)
)


@contextlib.asynccontextmanager
async def threadline(
    slack: FakeSlack, llm: FakeLLMServer, workdir: Path, **extra: str
) -> AsyncIterator[Driver]:
    extra.setdefault("HTTP_PORT", str(free_port()))  # nothing may collide if a port is opened
    env = bot_env(slack, llm, workdir / "threadline.db", **extra)
    async with threadline_run(env, workdir, slack=slack):
        yield Driver(slack)


async def test_mention_streams_into_a_thread_and_ends_with_the_exact_answer(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer(LONG, chunk_chars=12, chunk_delay=0.02))
    async with threadline(slack, llm, tmp_path) as driver:
        ts = await driver.mention("tell me a story")
        [reply] = await driver.finished(CHANNEL, ts)
    assert reply.visible_text == LONG
    assert reply.text == LONG
    assert reply.thread_ts == ts
    [start] = slack.called("chat.startStream")
    assert start.args["thread_ts"] == ts and start.args["recipient_user_id"] == ALICE
    assert len(slack.called("chat.appendStream")) >= 1
    assert len(reply.states) > 2, "the answer grew in place before its final state"
    assert len(llm.requests) == 1, "app_mention + message.channels made one answer"
    assert llm_user_texts(llm) == ["tell me a story"]


async def test_a_follow_up_in_the_thread_needs_no_mention_and_carries_history(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer("Paris is the capital of France."), answer("About 2.1 million people."))
    async with threadline(slack, llm, tmp_path) as driver:
        ts = await driver.mention("What is the capital of France?")
        await driver.finished(CHANNEL, ts)
        await driver.say("How many people live there?", thread=ts)
        replies = await driver.finished(CHANNEL, ts, count=2)
    assert [m.visible_text for m in replies] == [
        "Paris is the capital of France.",
        "About 2.1 million people.",
    ]
    assert llm_user_texts(llm) == [
        "What is the capital of France?",
        "Paris is the capital of France.",
        "How many people live there?",
    ]


async def test_retried_and_duplicated_deliveries_make_one_reply(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with threadline(slack, llm, tmp_path) as driver:
        message = slack.user_says(CHANNEL, f"<@{slack.bot_user}> once please")
        await driver.deliver(message, event_id="EvRETRYMSG")
        await driver.deliver(message, event_id="EvRETRYMSG", retry=1)
        await driver.deliver(mention_event(message), event_id="EvRETRYMENTION")
        await driver.deliver(mention_event(message), event_id="EvRETRYMENTION", retry=2)
        await driver.finished(CHANNEL, message["ts"])
        await driver.deliver(message, event_id="EvRETRYMSG", retry=3)
        marker = await driver.mention("a marker")  # processed after the retries
        await driver.finished(CHANNEL, marker)
    assert len(slack.replies(CHANNEL, message["ts"])) == 1
    assert len(llm.requests) == 2


async def test_history_survives_a_restart_and_replays_are_ignored(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer("The code word is heron."), answer("It was heron."))
    async with threadline(slack, llm, tmp_path) as driver:
        message = slack.user_says(CHANNEL, f"<@{slack.bot_user}> remember: heron")
        await driver.deliver(message, event_id="EvRESTART01")
        await driver.finished(CHANNEL, message["ts"])
    async with threadline(slack, llm, tmp_path) as driver:
        await driver.deliver(message, event_id="EvRESTART01", retry=1)  # replayed after restart
        await driver.say("What was the code word?", thread=message["ts"])
        replies = await driver.finished(CHANNEL, message["ts"], count=2)
    assert len(replies) == 2
    assert llm_user_texts(llm) == [
        "remember: heron",
        "The code word is heron.",
        "What was the code word?",
    ]


async def test_a_429_storm_on_chat_update_still_ends_with_the_exact_answer(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer(LONG, chunk_chars=20, chunk_delay=0.02))
    slack.rate_limit_next("chat.update", 2, retry_after=0)
    slack.rate_limit_next("chat.update", 1, retry_after=1)
    async with threadline(slack, llm, tmp_path, SLACK_NATIVE_STREAMING="false") as driver:
        ts = await driver.mention("a long one")
        [reply] = await driver.finished(CHANNEL, ts)
    assert reply.visible_text == LONG
    limited = [c for c in slack.calls if c.status == 429]
    assert len(limited) == 3
    assert not slack.called("chat.startStream")


async def test_native_stream_429s_and_expiry_fall_back_to_chat_update(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    slack.stream_ttl = 0.4
    llm.enqueue(answer(LONG, chunk_chars=8, chunk_delay=0.03))
    slack.rate_limit_next("chat.appendStream", 1, retry_after=0)
    async with threadline(slack, llm, tmp_path) as driver:
        ts = await driver.mention("a slow one")
        [reply] = await driver.finished(CHANNEL, ts)
    assert reply.visible_text == LONG
    expired = [c for c in slack.calls if c.error == "message_not_in_streaming_state"]
    assert expired, "the stream expired mid-answer"
    updates = slack.called("chat.update")
    assert updates and {c.args["ts"] for c in updates} == {reply.ts}, "same message kept"


async def test_stop_button_stops_the_answer_and_offers_regenerate(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer("word " * 400, chunk_chars=5, chunk_delay=0.02))
    async with threadline(slack, llm, tmp_path) as driver:
        ts = await driver.mention("talk for a while")
        streaming = await slack.wait_for(
            lambda: [m for m in slack.replies(CHANNEL, ts) if "threadline_stop" in m.action_ids]
        )
        await slack.wait_for(lambda: len(streaming[0].visible_text) > 20)
        await driver.click(streaming[0], "threadline_stop")
        [reply] = await driver.finished(CHANNEL, ts)
    assert reply.visible_text.endswith("_(stopped)_")
    assert reply.visible_text.startswith("word word")
    assert len(reply.visible_text) < len("word " * 400)


async def test_regenerate_answers_the_last_question_again(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer("First try."), answer("Second try."))
    async with threadline(slack, llm, tmp_path) as driver:
        ts = await driver.mention("Name a colour")
        [first] = await driver.finished(CHANNEL, ts)
        await asyncio.sleep(0.3)  # as a person would: the answer is stored just after it shows
        await driver.click(first, "threadline_regenerate")
        replies = await driver.finished(CHANNEL, ts, count=2)
        await driver.click(replies[1], "threadline_feedback_up")
        await slack.wait_for(lambda: slack.ephemerals)
    assert [m.visible_text for m in replies] == ["First try.", "Second try."]
    assert llm_user_texts(llm, 1) == ["Name a colour"]
    assert slack.ephemerals[-1]["text"] == "Thanks for the feedback!"


async def test_slash_commands_answer_ephemerally_and_check_permission(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with threadline(slack, llm, tmp_path, SLACK_ADMIN_USERS=ADMIN) as driver:
        assert await driver.command("help") == HELP
        assert await driver.command("settings set temperature 0.3") == NOT_ALLOWED
        changed = await driver.command("settings set temperature 0.3", user=ADMIN)
        refused = await driver.command("settings set temperature 7", user=ADMIN)
        shown = await driver.command("settings")
        ts = await driver.mention("hello")
        await driver.finished(CHANNEL, ts)
    assert changed == "temperature updated for this channel."
    assert refused.startswith("Not changed:")
    assert "0.3" in shown
    assert llm.requests[-1].body["temperature"] == 0.3


async def test_direct_messages_are_answered_in_place_with_history(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer("Hi Alice!"), answer("You said hello."))
    async with threadline(slack, llm, tmp_path) as driver:
        await driver.say("hello", channel=DM)
        await driver.finished(DM, None)
        await driver.say("what did I say?", channel=DM)
        replies = await driver.finished(DM, None, count=2)
    assert [m.visible_text for m in replies] == ["Hi Alice!", "You said hello."]
    assert llm_user_texts(llm) == ["hello", "Hi Alice!", "what did I say?"]


async def test_assistant_panel_gets_prompts_status_title_and_a_streamed_answer(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with threadline(slack, llm, tmp_path) as driver:
        thread = "1700000000.000100"
        started = assistant_thread_started(
            channel=DM, thread_ts=thread, user=ALICE, team=slack.team
        )
        await driver.deliver(started)
        await slack.wait_for(lambda: slack.called("assistant.threads.setSuggestedPrompts"))
        ts = slack.user_says(DM, "Explain DNS", thread_ts=thread)["ts"]
        event = message_event(
            channel=DM,
            ts=ts,
            text="Explain DNS",
            user=ALICE,
            team=slack.team,
            thread_ts=thread,
            channel_type="im",
            parent_user_id=slack.bot_user,
        )
        await driver.deliver(event)
        [reply] = await driver.finished(DM, thread)
        await slack.wait_for(lambda: slack.called("assistant.threads.setTitle"))
    assert reply.visible_text == "You said: Explain DNS"
    [status] = slack.called("assistant.threads.setStatus")
    assert (status.args["channel_id"], status.args["thread_ts"]) == (DM, thread)
    assert slack.called("assistant.threads.setTitle")[0].args["title"] == "Explain DNS"
    assert slack.called("chat.startStream")[0].args["thread_ts"] == thread


async def test_mass_mentions_in_model_output_are_neutralised(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer("Hey <!here> and <!channel>, <!everyone> and <!subteam^S0DEV|@devs>!"))
    async with threadline(slack, llm, tmp_path) as driver:
        ts = await driver.mention("ping everyone")
        [reply] = await driver.finished(CHANNEL, ts)
    for message in [reply.visible_text, reply.text, *reply.states]:
        assert "<!" not in message
        assert "@here" not in message and "@channel" not in message
    assert "devs" in reply.visible_text
