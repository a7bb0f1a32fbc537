"""/chat: thread, private thread, in place (DM, no thread permission), validation, follow-ups."""

from __future__ import annotations

from pathlib import Path

from tests.discord.harness import Bot, answer_texts, finished, is_final, running_bot, user_contents
from tests.fakes import discord_payloads as p
from tests.fakes.discord_api import EPHEMERAL, FakeDiscord, StoredMessage, opt
from tests.fakes.llm_server import FakeLLMServer, answer


async def test_chat_opens_a_public_thread_and_streams_the_exact_answer(bot: Bot) -> None:
    fake = bot.fake
    bot.llm.enqueue(answer("Paris is the capital of France.", chunk_chars=3))
    inter = await fake.slash("chat", [opt("prompt", "Capital of France?\nShort answer please")])
    callback = await fake.responded(inter)
    assert callback["type"] == 5  # deferred at once ("thinking…")
    threads = await fake.wait_until(lambda: fake.threads_of(fake.general))
    assert threads[0]["type"] == p.PUBLIC_THREAD
    assert threads[0]["name"] == "Capital of France?"
    thread_id = int(threads[0]["id"])
    starter = fake.original(inter)
    assert starter is not None and starter.id == thread_id
    assert "Capital of France?" in starter.content
    messages = await finished(fake, thread_id)
    assert [m.content for m in messages] == ["Paris is the capital of France."]
    assert len(messages[0].history) >= 2  # posted, then edited as it streamed
    assert bot.llm.requests[-1].body["messages"][-1]["content"].startswith("Capital of France?")


async def test_a_follow_up_in_the_thread_continues_the_conversation(bot: Bot) -> None:
    fake = bot.fake
    bot.llm.enqueue(answer("Blue."), answer("Because of Rayleigh scattering."))
    await fake.slash("chat", [opt("prompt", "What colour is the sky?")])
    thread_id = int((await fake.wait_until(lambda: fake.threads_of(fake.general)))[0]["id"])
    await finished(fake, thread_id)
    await fake.user_message(thread_id, "Why?")
    messages = await finished(fake, thread_id, count=2)
    assert answer_texts(messages) == ["Blue.", "Because of Rayleigh scattering."]
    assert user_contents(bot.llm) == ["What colour is the sky?", "Blue.", "Why?"]


async def test_model_and_temperature_apply_to_the_first_answer(bot: Bot) -> None:
    fake = bot.fake
    options = [opt("prompt", "hi"), opt("model", "other-model"), opt("temperature", 0.25)]
    await fake.slash("chat", options)
    thread_id = int((await fake.wait_until(lambda: fake.threads_of(fake.general)))[0]["id"])
    await finished(fake, thread_id)
    body = bot.llm.requests[-1].body
    assert body["model"] == "other-model"
    assert body["temperature"] == 0.25


async def test_an_invalid_temperature_is_refused_before_anything_happens(bot: Bot) -> None:
    fake = bot.fake
    inter = await fake.slash("chat", [opt("prompt", "hi"), opt("temperature", 7.5)])
    callback = await fake.responded(inter)
    assert callback["type"] == 4
    assert callback["data"]["flags"] & EPHEMERAL
    assert "temperature" in callback["data"]["content"]
    assert "0 to 2" in callback["data"]["content"]
    assert fake.threads_of(fake.general) == []
    assert bot.llm.requests == []
    key_args = ("discord", str(fake.guild_id), str(fake.general), "")
    from bot.model import ConversationKey

    assert not await bot.engine.is_participating(ConversationKey(*key_args))


async def test_private_chat_opens_a_private_thread_with_the_user(bot: Bot) -> None:
    fake = bot.fake
    inter = await fake.slash("chat", [opt("prompt", "secret question"), opt("private", True)])
    callback = await fake.responded(inter)
    assert callback["type"] == 5 and callback["data"]["flags"] & EPHEMERAL
    threads = await fake.wait_until(lambda: fake.threads_of(fake.general))
    assert threads[0]["type"] == p.PRIVATE_THREAD
    thread_id = int(threads[0]["id"])
    messages = await finished(fake, thread_id)
    assert (thread_id, int(fake.users["alice"]["id"])) in fake.thread_members
    assert answer_texts(messages) == ["You said: secret question"]

    def acknowledged() -> StoredMessage | None:
        original = fake.original(inter)
        return original if original is not None and "private thread" in original.content else None

    original = await fake.wait_until(acknowledged)
    assert original.ephemeral


async def test_private_chat_is_refused_without_the_permission(bot: Bot) -> None:
    fake = bot.fake
    fake.deny(fake.general, p.CREATE_PRIVATE_THREADS)
    inter = await fake.slash("chat", [opt("prompt", "secret"), opt("private", True)])
    callback = await fake.responded(inter)
    assert callback["type"] == 4 and callback["data"]["flags"] & EPHEMERAL
    assert "private thread" in callback["data"]["content"]
    assert fake.threads_of(fake.general) == [] and bot.llm.requests == []


async def test_chat_in_a_dm_answers_in_place(bot: Bot) -> None:
    fake = bot.fake
    dm = fake.open_dm("alice")
    bot.llm.enqueue(answer("Hello in private."))
    inter = await fake.slash("chat", [opt("prompt", "hello")], channel_id=dm)
    messages = await finished(fake, dm)
    assert [m.id for m in messages] == [inter.original_id]
    assert messages[0].content == "Hello in private."
    assert fake.requests_to("PATCH", r"/webhooks/.*/messages/@original")


async def test_chat_answers_in_place_where_threads_cannot_be_opened(bot: Bot) -> None:
    fake = bot.fake
    fake.deny(fake.general, p.CREATE_PUBLIC_THREADS)
    inter = await fake.slash("chat", [opt("prompt", "no threads here")])
    messages = await finished(fake, fake.general)
    assert [m.id for m in messages] == [inter.original_id]
    assert messages[0].content == "You said: no threads here"
    assert fake.threads_of(fake.general) == []


async def test_chat_in_a_voice_channel_answers_in_place(bot: Bot) -> None:
    fake = bot.fake
    inter = await fake.slash("chat", [opt("prompt", "from voice")], channel_id=fake.voice)
    messages = await finished(fake, fake.voice)
    assert [m.content for m in messages] == ["You said: from voice"]
    assert messages[0].id == inter.original_id


async def test_an_old_interaction_token_continues_with_channel_messages(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake.interaction_deadline = 3600.0  # let the fake accept a callback for a 14-minute-old token
    dm = fake.open_dm("alice")
    async with running_bot(fake, llm, tmp_path):
        inter = await fake.slash("chat", [opt("prompt", "late")], channel_id=dm, age=14 * 60)
        messages = await finished(fake, dm)
    assert [m.content for m in messages] == ["You said: late"]
    assert messages[0].id != inter.original_id
    assert is_final(messages[0])
    original = fake.messages[inter.original_id or 0]
    assert original.deleted  # the "thinking…" response did not stay behind
    assert fake.requests_to("POST", rf"/channels/{dm}/messages")
