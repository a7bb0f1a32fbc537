"""A user's edits and deletes reach the stored history (raw events: nothing is cached)."""

from __future__ import annotations

from bot.model import ConversationKey
from tests.discord.harness import Bot, eventually, finished, user_contents


async def _history(bot: Bot, key: ConversationKey) -> list[str]:
    return [m.content for m in await bot.engine.export(key)]


async def test_an_edited_follow_up_is_edited_in_history(bot: Bot) -> None:
    fake = bot.fake
    dm = fake.open_dm("alice")
    said = await fake.user_message(dm, "my favourite colour is red")
    await finished(fake, dm)
    key = ConversationKey("discord", "", str(dm), "")
    await fake.edit_user_message(said.id, "my favourite colour is green")

    async def edited() -> bool:
        return "my favourite colour is green" in await _history(bot, key)

    await eventually(edited)
    await fake.user_message(dm, "what is it?")
    await finished(fake, dm, count=2, text="You said: what is it?")
    assert user_contents(bot.llm)[0] == "my favourite colour is green"


async def test_a_deleted_message_leaves_history(bot: Bot) -> None:
    fake = bot.fake
    asked = await fake.user_message(fake.general, "start here", mention_bot=True)
    await finished(fake, asked.id)
    oops = await fake.user_message(asked.id, "my password is hunter2")
    await finished(fake, asked.id, count=2, text="You said: my password is hunter2")
    key = ConversationKey("discord", str(fake.guild_id), str(fake.general), str(asked.id))

    async def stored() -> bool:
        return "my password is hunter2" in await _history(bot, key)

    await eventually(stored)
    await fake.delete_user_message(oops.id)

    async def gone() -> bool:
        return "my password is hunter2" not in await _history(bot, key)

    await eventually(gone)


async def test_editing_the_mention_that_opened_a_thread_updates_that_thread(bot: Bot) -> None:
    fake = bot.fake
    asked = await fake.user_message(fake.general, "tell me about cats", mention_bot=True)
    await finished(fake, asked.id)
    key = ConversationKey("discord", str(fake.guild_id), str(fake.general), str(asked.id))
    await fake.edit_user_message(asked.id, f"<@{fake.bot['id']}> tell me about dogs")

    async def edited() -> bool:
        return "tell me about dogs" in await _history(bot, key)

    await eventually(edited)


async def test_the_bots_own_edits_change_nothing(bot: Bot) -> None:
    fake = bot.fake
    dm = fake.open_dm("alice")
    await fake.user_message(dm, "hello")
    answer = (await finished(fake, dm))[-1]
    key = ConversationKey("discord", "", str(dm), "")

    async def settled() -> bool:
        return await _history(bot, key) == ["hello", "You said: hello"]

    await eventually(settled)
    answer.data["content"] = "tampered"
    await fake.dispatch("MESSAGE_UPDATE", answer.data, None)
    await fake.user_message(dm, "again")
    await finished(fake, dm, count=2, text="You said: again")
    assert user_contents(bot.llm) == ["hello", "You said: hello", "again"]
