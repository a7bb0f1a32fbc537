"""Streaming into Discord: rollover at 2,000 characters, 429s, API errors, mention safety."""

from __future__ import annotations

import re

from bot.reply.split import join_parts
from tests.discord.harness import Bot, finished, is_final, is_streaming
from tests.fakes.discord_api import FakeDiscord, StoredMessage, opt
from tests.fakes.llm_server import answer

LINES = "".join(f"print('line {i:04d} of the listing')\n" for i in range(70))
CODE = "```python\n" + LINES + "```\n"
LONG = (
    "Here is the script you asked for.\n\n"
    + CODE
    + "\n".join(f"Paragraph {i}: " + "words " * 40 for i in range(10))
)


async def _chat_in_thread(fake: FakeDiscord, prompt: str = "go") -> int:
    await fake.slash("chat", [opt("prompt", prompt)])
    threads = await fake.wait_until(lambda: fake.threads_of(fake.general))
    return int(threads[0]["id"])


def _fences_balanced(text: str) -> bool:
    return len(re.findall(r"^```", text, flags=re.M)) % 2 == 0


async def test_a_5000_character_answer_becomes_three_messages_with_fences_intact(bot: Bot) -> None:
    fake = bot.fake
    assert 4900 <= len(LONG) <= 5600
    bot.llm.enqueue(answer(LONG, chunk_chars=40))
    thread_id = await _chat_in_thread(fake)
    messages = await finished(fake, thread_id, text=LONG)
    assert len(messages) == 3
    assert all(len(m.content) <= 2000 for m in messages)
    assert all(_fences_balanced(m.content) for m in messages)
    assert messages[1].content.startswith("```python")  # the code block reopens with its language
    assert join_parts([m.content for m in messages]) == LONG
    assert [is_final(m) for m in messages] == [False, False, True]  # buttons on the last only
    assert not any(is_streaming(m) for m in messages)


async def test_a_429_storm_still_ends_with_the_exact_answer(bot: Bot) -> None:
    fake = bot.fake
    text = "The final answer survives every rate limit. " * 8
    bot.llm.enqueue(answer(text, chunk_chars=5))
    fake.inject("PATCH", r"/channels/\d+/messages/\d+$", 429, times=12, retry_after=0.05)
    fake.inject("POST", r"/channels/\d+/messages$", 429, times=3, retry_after=0.05)
    thread_id = await _chat_in_thread(fake)
    messages = await finished(fake, thread_id)
    assert [m.content for m in messages] == [text]
    limited = [r for r in fake.requests if r.status == 429]
    assert len(limited) == 15


async def test_a_real_bucket_limit_is_respected(bot: Bot) -> None:
    fake = bot.fake
    fake.limits.set_rule("messages", 2, 0.5)
    text = "Bucketed answer. " * 30
    bot.llm.enqueue(answer(text, chunk_chars=3, chunk_delay=0.002))
    thread_id = await _chat_in_thread(fake)
    messages = await finished(fake, thread_id)
    assert [m.content for m in messages] == [text]


async def test_model_output_with_everyone_pings_nobody(bot: Bot) -> None:
    fake = bot.fake
    evil = f"@everyone @here look! <@&{fake.mod_role}> <@{fake.users['alice']['id']}>"
    bot.llm.enqueue(answer(evil))
    thread_id = await _chat_in_thread(fake)
    messages = await finished(fake, thread_id)
    assert messages[-1].content == evil
    assert fake.pings == []
    writes = [r for r in fake.requests if r.method in ("POST", "PATCH") and _writes_content(r.json)]
    assert writes
    for request in writes:
        assert request.json["allowed_mentions"]["parse"] == [], request.path


def _writes_content(body: object) -> bool:
    return isinstance(body, dict) and "content" in body


async def test_an_edit_refused_as_too_long_is_retried_and_the_answer_completes(bot: Bot) -> None:
    fake = bot.fake
    fake.inject("PATCH", r"/channels/\d+/messages/\d+$", 400, 50035, "Invalid Form Body")
    bot.llm.enqueue(answer("Short and sweet."))
    thread_id = await _chat_in_thread(fake)
    messages = await finished(fake, thread_id)
    assert [m.content for m in messages] == ["Short and sweet."]
    assert any(r.status == 400 for r in fake.requests)


async def test_an_answer_message_deleted_mid_stream_is_posted_again(bot: Bot) -> None:
    fake = bot.fake
    text = "Still here after a moderator deleted me. " * 3
    bot.llm.enqueue(answer(text, chunk_chars=4, chunk_delay=0.01))
    thread_id = await _chat_in_thread(fake)
    first = (await fake.wait_until(lambda: fake.bot_messages(thread_id)))[0]
    first.deleted = True
    messages = await finished(fake, thread_id, text=text)
    assert [m.content for m in messages] == [text]
    assert messages[0].id != first.id
    assert any(r.status == 404 for r in fake.requests)


async def test_a_thread_archived_mid_answer_is_unarchived_and_the_answer_completes(
    bot: Bot,
) -> None:
    fake = bot.fake
    text = "Archived threads do not stop me. " * 4
    bot.llm.enqueue(answer(text, chunk_chars=4, chunk_delay=0.01))
    thread_id = await _chat_in_thread(fake)
    await fake.wait_until(lambda: fake.bot_messages(thread_id))
    await fake.archive(thread_id)
    messages = await finished(fake, thread_id, text=text)
    assert [m.content for m in messages] == [text]
    assert any(r.status == 400 for r in fake.requests_to("PATCH", r"/messages/"))
    unarchive = fake.requests_to("PATCH", rf"^/channels/{thread_id}$")
    assert unarchive and unarchive[0].json == {"archived": False}
    assert not fake.channels[thread_id]["thread_metadata"]["archived"]


async def test_a_server_error_is_retried(bot: Bot) -> None:
    fake = bot.fake
    fake.inject("PATCH", r"/channels/\d+/messages/\d+$", 500, 0, "500: Internal Server Error")
    bot.llm.enqueue(answer("After a hiccup."))
    thread_id = await _chat_in_thread(fake)
    messages = await finished(fake, thread_id)
    assert [m.content for m in messages] == ["After a hiccup."]
    assert any(r.status == 500 for r in fake.requests)


async def test_an_unknown_interaction_loses_nothing_and_the_bot_keeps_working(bot: Bot) -> None:
    fake = bot.fake
    fake.inject("POST", r"/interactions/\d+/[^/]+/callback$", 404, 10062, "Unknown interaction")
    await fake.slash("chat", [opt("prompt", "too late")])
    await fake.wait_until(lambda: any(r.status == 404 for r in fake.requests))
    thread_id = await _chat_in_thread(fake, "second try")
    messages = await finished(fake, thread_id)
    assert [m.content for m in messages] == ["You said: second try"]
    assert len(bot.llm.requests) == 1


def _contents(messages: list[StoredMessage]) -> list[str]:
    return [m.content for m in messages]
