"""Stop, Regenerate and feedback buttons, including after a restart."""

from __future__ import annotations

from pathlib import Path

from bot.model import ConversationKey
from tests.discord.harness import (
    Bot,
    finished,
    is_final,
    is_streaming,
    last_answer,
    running_bot,
    stored_status,
    user_contents,
)
from tests.fakes.discord_api import FakeDiscord, StoredMessage, opt
from tests.fakes.llm_server import FakeLLMServer, answer


def _button(message: StoredMessage, action: str) -> str:
    return next(i for i in message.custom_ids() if i.startswith(f"tl:{action}:"))


async def _thread(fake: FakeDiscord, prompt: str) -> int:
    await fake.slash("chat", [opt("prompt", prompt)])
    threads = await fake.wait_until(lambda: fake.threads_of(fake.general))
    return int(threads[-1]["id"])


async def test_stop_ends_the_answer_and_keeps_what_was_shown(bot: Bot) -> None:
    fake = bot.fake
    bot.llm.enqueue(answer("word " * 400, chunk_chars=5, chunk_delay=0.02))
    thread_id = await _thread(fake, "talk a lot")
    streaming = await fake.wait_until(
        lambda: [m for m in fake.bot_messages(thread_id) if is_streaming(m) and "word" in m.content]
    )
    press = await fake.click(streaming[0].id, _button(streaming[0], "stop"))
    assert (await fake.responded(press))["type"] == 6
    messages = await finished(fake, thread_id)
    assert messages[-1].content.endswith("_(stopped)_")
    assert len(messages[-1].content) < len("word " * 400)
    key = ConversationKey("discord", str(fake.guild_id), str(fake.general), str(thread_id))
    await stored_status(bot.engine, key, "stopped")


async def test_regenerate_answers_again_as_a_new_message(bot: Bot) -> None:
    fake = bot.fake
    bot.llm.enqueue(answer("First try."), answer("Second try."))
    thread_id = await _thread(fake, "pick a number")
    first = (await finished(fake, thread_id))[-1]
    press = await fake.click(first.id, _button(first, "regen"))
    assert (await fake.responded(press))["type"] == 7  # the old message loses its buttons
    messages = await finished(fake, thread_id, text="Second try.")
    assert [m.content for m in messages] == ["First try.", "Second try."]
    assert not fake.messages[first.id].custom_ids()
    assert user_contents(bot.llm) == ["pick a number"]  # the old answer is not context
    await fake.user_message(thread_id, "and now?")
    await finished(fake, thread_id, count=2, text="You said: and now?")
    assert user_contents(bot.llm) == ["pick a number", "Second try.", "and now?"]


async def test_feedback_is_stored_on_the_answer(bot: Bot) -> None:
    fake = bot.fake
    thread_id = await _thread(fake, "rate me")
    message = (await finished(fake, thread_id))[-1]
    key = ConversationKey("discord", str(fake.guild_id), str(fake.general), str(thread_id))
    await stored_status(bot.engine, key, "complete")
    press = await fake.click(message.id, _button(message, "up"))
    callback = await fake.responded(press)
    assert callback["type"] == 4 and "Thanks" in callback["data"]["content"]


async def test_history_and_buttons_survive_a_restart(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer("Remembered answer."))
    async with running_bot(fake, llm, tmp_path):
        thread_id = await _thread(fake, "remember this")
        first = (await finished(fake, thread_id))[-1]
    llm.enqueue(answer("Regenerated after restart."))
    async with running_bot(fake, llm, tmp_path):
        press = await fake.click(first.id, _button(first, "regen"))
        await fake.responded(press)
        await finished(fake, thread_id, text="Regenerated after restart.")
        await fake.user_message(thread_id, "what did I ask?")
        await finished(fake, thread_id, count=2, text="You said: what did I ask?")
    assert user_contents(llm) == ["remember this", "Regenerated after restart.", "what did I ask?"]
    assert fake.command_puts == ["global"]  # definitions unchanged: no second sync


async def test_a_stale_stop_button_becomes_regenerate(bot: Bot) -> None:
    fake = bot.fake
    thread_id = await _thread(fake, "done already")
    message = (await finished(fake, thread_id))[-1]
    key = ConversationKey("discord", str(fake.guild_id), str(fake.general), str(thread_id))
    await stored_status(bot.engine, key, "complete")
    stale = f"tl:stop:{fake.general}:{thread_id}"
    message.data["components"] = [
        {"type": 1, "components": [{"type": 2, "style": 4, "label": "Stop", "custom_id": stale}]}
    ]
    press = await fake.click(message.id, stale)
    callback = await fake.responded(press)
    assert callback["type"] == 7
    assert is_final(fake.messages[message.id])
    assert last_answer(fake.bot_messages(thread_id))


async def test_regenerate_after_reset_is_refused_and_leaves_the_message_as_it_was(
    bot: Bot,
) -> None:
    fake = bot.fake
    bot.llm.enqueue(answer("Before the reset."))
    thread_id = await _thread(fake, "old question")
    old = (await finished(fake, thread_id))[-1]
    buttons = old.custom_ids()
    await fake.slash("reset", channel_id=thread_id)
    press = await fake.click(old.id, _button(old, "regen"))
    callback = await fake.responded(press)
    assert callback["type"] == 4 and callback["data"]["flags"] & 64  # a private refusal
    assert "reset" in callback["data"]["content"]
    assert fake.messages[old.id].content == "Before the reset."
    assert fake.messages[old.id].custom_ids() == buttons
    assert len(bot.llm.requests) == 1
