"""@mentions in channels and threads, DMs, other bots, duplicates."""

from __future__ import annotations

from pathlib import Path

from tests.discord.harness import Bot, answer_texts, finished, running_bot, user_contents
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer


async def test_a_mention_opens_a_thread_on_the_message_by_default(bot: Bot) -> None:
    fake = bot.fake
    asked = await fake.user_message(fake.general, "what is 2+2?", mention_bot=True)
    threads = await fake.wait_until(lambda: fake.threads_of(fake.general))
    assert int(threads[0]["id"]) == asked.id  # a thread on the user's message
    assert threads[0]["name"] == "what is 2+2?"
    messages = await finished(fake, asked.id)
    assert [m.content for m in messages] == ["You said: what is 2+2?"]
    assert user_contents(bot.llm) == ["what is 2+2?"]  # the bot's own mention is removed
    await fake.user_message(asked.id, "and 3+3?")
    messages = await finished(fake, asked.id, count=2)
    assert user_contents(bot.llm) == ["what is 2+2?", "You said: what is 2+2?", "and 3+3?"]


async def test_reply_mode_answers_in_place(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with running_bot(fake, llm, tmp_path, DISCORD_MENTION_MODE="reply"):
        asked = await fake.user_message(fake.general, "hello there", mention_bot=True)
        messages = await finished(fake, fake.general)
    assert fake.threads_of(fake.general) == []
    assert [m.content for m in messages] == ["You said: hello there"]
    reference = messages[0].data["message_reference"]
    assert reference["message_id"] == str(asked.id)
    assert messages[0].allowed_mentions[0] == {"parse": [], "replied_user": False}


async def test_messages_without_a_mention_in_a_channel_are_ignored(bot: Bot) -> None:
    fake = bot.fake
    await fake.user_message(fake.general, "just chatting")
    await fake.user_message(fake.general, "ping", mention_bot=True)
    thread = await fake.wait_until(lambda: fake.threads_of(fake.general))
    await finished(fake, int(thread[0]["id"]))
    assert len(bot.llm.requests) == 1
    assert user_contents(bot.llm) == ["ping"]


async def test_a_mention_in_someone_elses_thread_is_answered_there(bot: Bot) -> None:
    fake = bot.fake
    starter = await fake.user_message(fake.general, "a topic")
    from tests.fakes import discord_payloads as p

    thread = p.thread(
        starter.id, fake.guild_id, fake.general, "topic", int(fake.users["alice"]["id"])
    )
    fake.channels[starter.id] = thread
    await fake.dispatch("THREAD_CREATE", thread, fake.guild_id)
    await fake.user_message(starter.id, "not for the bot")
    asked = await fake.user_message(starter.id, "summarise please", mention_bot=True)
    messages = await finished(fake, starter.id)
    assert [m.content for m in messages] == ["You said: summarise please"]
    assert messages[0].data["message_reference"]["message_id"] == str(asked.id)
    assert len(bot.llm.requests) == 1


async def test_a_direct_message_is_answered_in_place(bot: Bot) -> None:
    fake = bot.fake
    dm = fake.open_dm("alice")
    await fake.user_message(dm, "hi in private")
    messages = await finished(fake, dm)
    assert [m.content for m in messages] == ["You said: hi in private"]
    await fake.user_message(dm, "again")
    await finished(fake, dm, count=2)
    assert user_contents(bot.llm) == ["hi in private", "You said: hi in private", "again"]


async def test_direct_messages_can_be_refused(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    dm = fake.open_dm("alice")
    async with running_bot(fake, llm, tmp_path, DISCORD_ALLOW_DMS="false"):
        await fake.user_message(dm, "hi")
        refusal = await fake.wait_until(lambda: fake.bot_messages(dm))
    assert "direct messages" in refusal[0].content
    assert llm.requests == []


async def test_other_bots_are_not_answered_but_recorded_in_bot_threads(bot: Bot) -> None:
    fake = bot.fake
    await fake.user_message(fake.general, "bot spam", author="otherbot", mention_bot=True)
    asked = await fake.user_message(fake.general, "start", mention_bot=True)
    await finished(fake, asked.id)
    await fake.user_message(asked.id, "I am a bot adding context", author="otherbot")
    await fake.user_message(asked.id, "what did the bot say?")
    await finished(fake, asked.id, count=2)
    assert len(bot.llm.requests) == 2
    contents = user_contents(bot.llm)
    assert any(c.endswith("I am a bot adding context") for c in contents)
    assert contents[-1].endswith("what did the bot say?")
    assert fake.threads_of(fake.general)[0]["id"] == str(asked.id)


async def test_a_replayed_message_is_answered_once(bot: Bot) -> None:
    fake = bot.fake
    dm = fake.open_dm("alice")
    said = await fake.user_message(dm, "only once")
    await fake.dispatch("MESSAGE_CREATE", said.data, None)
    await finished(fake, dm)
    await fake.user_message(dm, "next")
    messages = await finished(fake, dm, count=2)
    assert answer_texts(messages) == ["You said: only once", "You said: next"]
    assert len(bot.llm.requests) == 2


async def test_an_empty_mention_gets_a_hint(bot: Bot) -> None:
    fake = bot.fake
    await fake.user_message(fake.general, "", mention_bot=True)
    hint = await fake.wait_until(lambda: fake.bot_messages(fake.general))
    assert "/chat" in hint[0].content
    assert bot.llm.requests == []


async def test_a_mention_where_threads_are_impossible_is_answered_in_place(bot: Bot) -> None:
    fake = bot.fake
    asked = await fake.user_message(fake.voice, "from the voice chat", mention_bot=True)
    messages = await finished(fake, fake.voice)
    assert [m.content for m in messages] == ["You said: from the voice chat"]
    assert messages[0].data["message_reference"]["message_id"] == str(asked.id)
    assert fake.threads_of(fake.voice) == []
