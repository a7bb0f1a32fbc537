"""Who gets answered where, and how history follows edits and deletes (in-process bot)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.llm_server import FakeLLMServer, answer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import bot_message_event, changed_event, deleted_event
from tests.slack.harness import BOB, CHANNEL, DM, Bot, llm_user_texts, running_bot


async def test_plain_channel_messages_and_foreign_threads_are_ignored(bot: Bot) -> None:
    top = await bot.say("no mention here")
    await bot.say("a reply in a thread the bot is not in", thread=top["ts"])
    marker = await bot.mention("and now you")
    await bot.finished(CHANNEL, marker)
    assert llm_user_texts(bot.llm) == ["and now you"]
    assert not bot.slack.replies(CHANNEL, top["ts"])


async def test_a_mention_inside_an_existing_thread_is_answered_in_that_thread(bot: Bot) -> None:
    top = await bot.say("some discussion", user=BOB)
    await bot.mention("what do you think?", thread=top["ts"])
    [reply] = await bot.finished(CHANNEL, top["ts"])
    assert reply.thread_ts == top["ts"]


async def test_follow_ups_addressing_someone_else_are_recorded_not_answered(bot: Bot) -> None:
    bot.llm.enqueue(answer("Hello!"), answer("Noted both."))
    ts = await bot.mention("hi")
    await bot.finished(CHANNEL, ts)
    await bot.say(f"<@{BOB}> can you check this?", thread=ts)
    await bot.history_becomes(CHANNEL, ts, lambda texts: len(texts) == 3)
    await bot.mention("summarise please", thread=ts)
    await bot.finished(CHANNEL, ts, count=2)
    texts = llm_user_texts(bot.llm)
    assert texts[-2:] == [f"<@{BOB}> can you check this?", "summarise please"]
    assert len(bot.llm.requests) == 2


async def test_follow_ups_off_records_thread_messages_until_mentioned(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    async with running_bot(slack, llm, db, SLACK_THREAD_FOLLOWUPS="false") as bot:
        ts = await bot.mention("first")
        await bot.finished(CHANNEL, ts)
        await bot.say("just chatting", thread=ts, user=BOB)
        await bot.history_becomes(CHANNEL, ts, lambda texts: len(texts) == 3)
        await bot.mention("now answer", thread=ts)
        await bot.finished(CHANNEL, ts, count=2)
    assert len(llm.requests) == 2
    assert llm_user_texts(llm)[-2:] == ["[Bob] just chatting", "[Alice] now answer"]


async def test_other_bots_are_ignored_unless_enabled(
    slack: FakeSlack, llm: FakeLLMServer, db: Path
) -> None:
    async with running_bot(slack, llm, db) as bot:
        ts = await bot.mention("hello")
        await bot.finished(CHANNEL, ts)
        other = bot_message_event(
            channel=CHANNEL,
            ts="1700000001.000001",
            text="beep",
            bot_id="B0OTHER",
            team=slack.team,
            thread_ts=ts,
        )
        await bot.deliver(other)
        own = bot_message_event(
            channel=CHANNEL,
            ts="1700000001.000002",
            text="my own words",
            bot_id=slack.bot_id,
            team=slack.team,
            thread_ts=ts,
        )
        await bot.deliver(own)
        marker = await bot.mention("marker")
        await bot.finished(CHANNEL, marker)
    assert len(llm.requests) == 2
    async with running_bot(slack, llm, db, SLACK_ANSWER_BOTS="true") as bot:
        other["ts"] = "1700000001.000003"
        await bot.deliver(other)
        await bot.finished(CHANNEL, ts, count=2)
    assert llm_user_texts(llm)[-1] == "[otherbot] beep"


async def test_edits_and_deletes_of_user_messages_update_history(bot: Bot) -> None:
    bot.llm.enqueue(answer("One."), answer("Two."), answer("Three."))
    ts = await bot.mention("what is 1+1?")
    [first] = await bot.finished(CHANNEL, ts)
    follow = await bot.say("and typo here", thread=ts)
    await bot.finished(CHANNEL, ts, count=2)
    original = {
        "type": "message",
        "user": "U0ALICE",
        "text": "and typo here",
        "ts": follow["ts"],
        "thread_ts": ts,
    }
    edited = {**original, "text": "and 2+2?"}
    await bot.deliver(changed_event(channel=CHANNEL, message=edited, previous=original, ts="1.1"))
    await bot.history_becomes(CHANNEL, ts, lambda texts: "and 2+2?" in texts)
    own = first.as_event_message()
    await bot.deliver(
        changed_event(channel=CHANNEL, message={**own, "text": "tampered"}, previous=own, ts="1.2")
    )
    await bot.deliver(deleted_event(channel=CHANNEL, previous=own | {"bot_id": ""}, ts="1.3"))
    await bot.say("last one", thread=ts)
    await bot.finished(CHANNEL, ts, count=3)
    assert llm_user_texts(bot.llm) == ["what is 1+1?", "One.", "and 2+2?", "Two.", "last one"]


async def test_deleted_user_message_leaves_history(bot: Bot) -> None:
    ts = await bot.mention("keep this")
    await bot.finished(CHANNEL, ts)
    gone = await bot.say("delete me", thread=ts)
    await bot.finished(CHANNEL, ts, count=2)
    previous = {
        "type": "message",
        "user": "U0ALICE",
        "text": "delete me",
        "ts": gone["ts"],
        "thread_ts": ts,
    }
    await bot.deliver(deleted_event(channel=CHANNEL, previous=previous, ts="1.4"))
    await bot.history_becomes(CHANNEL, ts, lambda texts: "delete me" not in texts)
    await bot.say("what remains?", thread=ts)
    await bot.finished(CHANNEL, ts, count=3)
    assert "delete me" not in llm_user_texts(bot.llm)


async def test_a_dm_thread_is_its_own_conversation_answered_in_the_thread(bot: Bot) -> None:
    top = await bot.say("hello", channel=DM)
    await bot.finished(DM, None)
    await bot.say("about this one", channel=DM, thread=top["ts"])
    [reply] = await bot.finished(DM, top["ts"])
    assert reply.thread_ts == top["ts"]
    assert llm_user_texts(bot.llm) == ["about this one"]
    assert bot.slack.called("chat.startStream")[0].args["channel"] == DM


async def test_multi_user_threads_name_each_author(bot: Bot) -> None:
    ts = await bot.mention("hi, I'm asking")
    await bot.finished(CHANNEL, ts)
    await bot.mention("me too", thread=ts, user=BOB)
    await bot.finished(CHANNEL, ts, count=2)
    assert llm_user_texts(bot.llm)[-1] == "[Bob] me too"
