"""Issue 13 on Discord: reply branches, reasoning shown on request, channel context and the
Summarize/Translate message commands."""

from __future__ import annotations

from bot.model import ConversationKey
from tests.discord.harness import (
    Bot,
    answer_texts,
    eventually,
    finished,
    is_final,
    stored_status,
    user_contents,
)
from tests.fakes.discord_api import FakeDiscord, FakeInteraction
from tests.fakes.llm_server import answer

EPHEMERAL = 64
REASONING = "first I weigh the options, then I count them carefully " * 4


async def _thread(fake: FakeDiscord, question: str) -> int:
    await fake.user_message(fake.general, question, mention_bot=True)
    threads = await fake.wait_until(lambda: fake.threads_of(fake.general))
    return int(threads[0]["id"])


async def test_a_reply_to_an_earlier_answer_continues_from_it(bot: Bot) -> None:
    fake = bot.fake
    thread = await _thread(fake, "first question")
    first = (await finished(fake, thread))[0]
    await fake.user_message(thread, "second question")
    await finished(fake, thread, count=2)
    await fake.user_message(thread, "back to the first", reply_to=first.id)
    await finished(fake, thread, count=3)
    assert user_contents(bot.llm) == [
        "first question",
        "You said: first question",
        "back to the first",
    ]


async def test_a_plain_follow_up_still_sees_the_whole_thread(bot: Bot) -> None:
    fake = bot.fake
    thread = await _thread(fake, "first question")
    await finished(fake, thread)
    await fake.user_message(thread, "second question")
    await finished(fake, thread, count=2)
    await fake.user_message(thread, "third")
    await finished(fake, thread, count=3)
    assert len(user_contents(bot.llm)) == 5


async def _reasoned_answer(bot: Bot, setting: str) -> tuple[list[str], list[str]]:
    fake = bot.fake
    await bot.engine.change_setting(_channel_key(bot), "show_reasoning", setting, actor="admin")
    bot.llm.enqueue(answer("Three.", reasoning=REASONING, chunk_chars=4, chunk_delay=0.02))
    thread = await _thread(fake, "how many?")
    messages = await finished(fake, thread, text="Three.")
    return answer_texts(messages), messages[0].history


def _channel_key(bot: Bot) -> ConversationKey:
    from adapters.discord.keys import guild_key

    return guild_key(bot.fake.guild_id, bot.fake.general, None)


async def test_reasoning_collapsed_shows_while_streaming_then_only_the_answer(bot: Bot) -> None:
    texts, history = await _reasoned_answer(bot, "collapsed")
    assert texts == ["Three."]
    assert any(h.startswith("-# Thinking…\n||") and "count them" in h for h in history)
    await stored_status(bot.engine, _thread_key(bot), "complete")
    stored = await bot.engine.export(_thread_key(bot))
    assert [m.content for m in stored][-1] == "Three."
    assert not any("weigh" in m.content for m in stored)


async def test_reasoning_hidden_by_default_is_never_shown(bot: Bot) -> None:
    texts, history = await _reasoned_answer(bot, "hidden")
    assert texts == ["Three."]
    assert not any("Thinking" in h or "weigh" in h for h in history)


def _thread_key(bot: Bot) -> ConversationKey:
    from adapters.discord.keys import guild_key

    thread = int(bot.fake.threads_of(bot.fake.general)[0]["id"])
    return guild_key(bot.fake.guild_id, bot.fake.general, thread)


async def _mention_after_chatter(bot: Bot, count: str) -> list[str]:
    fake = bot.fake
    await bot.engine.change_setting(_channel_key(bot), "channel_context", count, actor="admin")
    await fake.user_message(fake.general, "the deploy moved to 5pm", author="bob")
    await fake.user_message(fake.general, "ok noted")
    thread = await _thread(fake, "when is the deploy?")
    await finished(fake, thread)
    return user_contents(bot.llm)


async def test_channel_context_on_shows_the_messages_before_the_mention(bot: Bot) -> None:
    contents = await _mention_after_chatter(bot, "20")
    assert len(contents) == 1
    question = contents[0]
    assert question.endswith("My question:\nwhen is the deploy?")
    lines = question.splitlines()
    assert lines[1].endswith("] the deploy moved to 5pm")
    assert lines[2].endswith("] ok noted")
    assert "when is the deploy?" not in lines[1:3]


async def test_channel_context_off_by_default(bot: Bot) -> None:
    contents = await _mention_after_chatter(bot, "default")
    assert contents == ["when is the deploy?"]


def _final(fake: FakeDiscord, interaction: FakeInteraction, text: str) -> bool:
    original = fake.original(interaction)
    return original is not None and original.content == text and is_final(original)


async def test_translate_menu_uses_the_locale_and_answers_privately(bot: Bot) -> None:
    fake = bot.fake
    said = await fake.user_message(fake.general, "the deploy moved to 5pm", author="bob")
    bot.llm.enqueue(answer("Le déploiement est à 17h."))
    menu = await fake.context_menu("Translate", said.id, locale="fr")
    callback = await fake.responded(menu)
    assert callback["data"]["flags"] & EPHEMERAL
    await fake.wait_until(lambda: _final(fake, menu, "Le déploiement est à 17h."))
    assert user_contents(bot.llm) == [
        "Translate the following message into fr. Reply with the translation only.\n\n"
        "the deploy moved to 5pm"
    ]


async def test_summarize_menu_covers_the_thread_and_can_answer_publicly(bot: Bot) -> None:
    fake = bot.fake
    await bot.engine.change_setting(_channel_key(bot), "shortcut_replies", "thread", actor="a")
    thread = await _thread(fake, "what is 2+2?")
    first = (await finished(fake, thread))[0]
    await stored_status(bot.engine, _thread_key(bot), "complete")
    bot.llm.enqueue(answer("Alice asked about 2+2."))
    menu = await fake.context_menu("Summarize", first.id)
    callback = await fake.responded(menu)
    assert not callback.get("data", {}).get("flags", 0) & EPHEMERAL
    await fake.wait_until(lambda: _final(fake, menu, "Alice asked about 2+2."))
    question = user_contents(bot.llm)[-1]
    assert question.startswith("Summarize the following conversation")
    assert question.endswith("what is 2+2?\n[Threadline] You said: what is 2+2?")


async def test_summarize_menu_in_a_channel_uses_the_kept_messages(bot: Bot) -> None:
    fake = bot.fake
    await bot.engine.change_setting(_channel_key(bot), "channel_context", "50", actor="a")
    await fake.user_message(fake.general, "the deploy moved to 5pm", author="bob")
    last = await fake.user_message(fake.general, "ok noted")
    await fake.user_message(fake.general, "later chatter")
    channel = _channel_key(bot)
    await eventually(lambda: _kept(bot, channel, 3))  # kept as their events are handled
    bot.llm.enqueue(answer("Summary."))
    menu = await fake.context_menu("Summarize", last.id)
    await fake.wait_until(lambda: _final(fake, menu, "Summary."))
    lines = user_contents(bot.llm)[-1].splitlines()
    assert lines[0].startswith("Summarize the following conversation")
    assert lines[2:] == ["[Bob] the deploy moved to 5pm", "[Alice] ok noted"]  # not later ones


async def _kept(bot: Bot, channel: ConversationKey, count: int) -> bool:
    return len(await bot.engine.channel_messages(channel, 50)) == count
