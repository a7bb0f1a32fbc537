"""The engine against a real SQLite store and the real client talking to the fake LLM server."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import LLMAuthError, SettingError
from bot.llm.client import build_http_client
from bot.model import ConversationKey, IncomingMessage, Role, TurnStatus
from tests.core.conftest import make_engine
from tests.fakes.llm_server import DISCONNECT, Pause, answer, chunk, error, events
from tests.fakes.replies import RecordingReply

KEY = ConversationKey("test", "w", "c", "t1")


def msg(text, *, key=KEY, mid=None, author="u1", name="Ann"):
    return IncomingMessage(key, mid or f"m-{text}", author, name, text)


def sent_messages(request):
    return [(m["role"], m["content"]) for m in request.body["messages"][1:]]


async def test_answer_streams_is_stored_and_becomes_history(harness):
    harness.llm.enqueue(answer("Hi Ann!"), answer("Still here."))
    first = RecordingReply()
    result = await harness.engine.handle(msg("hello"), first)
    assert (result.status, result.text) == (TurnStatus.COMPLETE, "Hi Ann!")
    assert first.started and first.closed_as == "finished" and first.text == "Hi Ann!"
    await harness.engine.handle(msg("and now?"), RecordingReply())
    assert sent_messages(harness.llm.requests[1]) == [
        ("user", "hello"),
        ("assistant", "Hi Ann!"),
        ("user", "and now?"),
    ]
    stored = await harness.engine.export(KEY)
    assert stored[1].platform_message_ids == ["msg-1"]
    assert stored[1].usage is not None


async def test_failed_answer_keeps_partial_text_and_is_not_replayed(harness):
    harness.llm.enqueue(events(chunk("Half an ans"), DISCONNECT), answer("ok"))
    reply = RecordingReply()
    result = await harness.engine.handle(msg("q1"), reply)
    assert result.status is TurnStatus.FAILED
    assert reply.closed_as == "failed" and reply.text == "Half an ans"
    assert reply.notice
    stored = await harness.engine.export(KEY)
    assert (stored[-1].status, stored[-1].content) == (TurnStatus.FAILED, "Half an ans")
    await harness.engine.handle(msg("q2"), RecordingReply())
    assert ("assistant", "Half an ans") not in sent_messages(harness.llm.requests[1])


async def test_auth_failure_shows_the_actionable_sentence(harness):
    harness.llm.enqueue(error(401, "bad key"))
    reply = RecordingReply()
    result = await harness.engine.handle(msg("q"), reply)
    assert result.status is TurnStatus.FAILED
    assert reply.notice == LLMAuthError.user_message


async def test_stop_mid_stream_keeps_shown_text_and_records_stopped(harness):
    harness.llm.enqueue(events(chunk("Once upon"), Pause(5), chunk(" a time")))
    reply = RecordingReply()
    task = asyncio.create_task(harness.engine.handle(msg("story"), reply))
    await asyncio.wait_for(reply.first_text.wait(), 5)
    assert await harness.engine.stop(KEY)
    result = await asyncio.wait_for(task, 5)
    assert result.status is TurnStatus.STOPPED
    assert reply.closed_as == "stopped" and reply.text == "Once upon"
    stored = await harness.engine.export(KEY)
    assert stored[-1].status is TurnStatus.STOPPED
    assert not await harness.engine.stop(KEY)


async def test_messages_in_one_conversation_are_answered_in_order(harness):
    harness.llm.enqueue(answer("first answer", chunk_delay=0.02), answer("second answer"))
    one, two = RecordingReply(), RecordingReply()
    t1 = asyncio.create_task(harness.engine.handle(msg("one"), one))
    await asyncio.sleep(0)
    t2 = asyncio.create_task(harness.engine.handle(msg("two"), two))
    await asyncio.wait_for(asyncio.gather(t1, t2), 10)
    assert (one.text, two.text) == ("first answer", "second answer")
    assert sent_messages(harness.llm.requests[1]) == [
        ("user", "one"),
        ("assistant", "first answer"),
        ("user", "two"),
    ]


async def test_global_cap_bounds_concurrent_generations(tmp_path, llm):
    from bot.store.db import open_store
    from bot.store.migrate import upgrade_async

    url = f"sqlite+aiosqlite:///{tmp_path / 'cap.db'}"
    await upgrade_async(url)
    async with open_store(url) as store, build_http_client(llm.base_url, 2.0) as http:
        engine = make_engine(store, http, max_concurrent=1)
        llm.enqueue(events(chunk("A"), Pause(0.3), chunk("A2", finish_reason="stop")))
        a, b = RecordingReply(), RecordingReply()
        other = ConversationKey("test", "w", "other", "")
        ta = asyncio.create_task(engine.handle(msg("a"), a))
        await asyncio.wait_for(a.first_text.wait(), 5)
        tb = asyncio.create_task(engine.handle(msg("b", key=other), b))
        await asyncio.sleep(0.1)
        assert len(llm.requests) == 1 and b.started and not b.parts
        await asyncio.wait_for(asyncio.gather(ta, tb), 10)
        assert len(llm.requests) == 2 and b.closed_as == "finished"


async def test_reset_starts_a_fresh_context(harness):
    await harness.engine.handle(msg("remember 42"), RecordingReply())
    await harness.engine.reset(KEY)
    await harness.engine.handle(msg("what number?"), RecordingReply())
    assert sent_messages(harness.llm.requests[1]) == [("user", "what number?")]


async def test_user_edits_and_deletes_change_history(harness):
    await harness.engine.handle(msg("typo", mid="u-1"), RecordingReply())
    await harness.engine.handle(msg("second", mid="u-2"), RecordingReply())
    assert await harness.engine.message_edited(KEY, "u-1", "fixed")
    assert await harness.engine.message_deleted(KEY, "u-2")
    assert not await harness.engine.message_edited(KEY, "unknown", "x")
    await harness.engine.handle(msg("third", mid="u-3"), RecordingReply())
    users = [c for r, c in sent_messages(harness.llm.requests[2]) if r == "user"]
    assert users == ["fixed", "third"]


async def test_regenerate_supersedes_the_previous_answer(harness):
    harness.llm.enqueue(answer("draft"), answer("better"))
    await harness.engine.handle(msg("write"), RecordingReply())
    again = RecordingReply()
    result = await harness.engine.regenerate(KEY, again, user_id="u1")
    assert result.text == "better" and again.text == "better"
    assert sent_messages(harness.llm.requests[1]) == [("user", "write")]
    statuses = [m.status for m in await harness.engine.export(KEY) if m.role is Role.ASSISTANT]
    assert statuses == [TurnStatus.SUPERSEDED, TurnStatus.COMPLETE]


async def test_regenerate_without_an_answer_is_a_clear_error(harness):
    with pytest.raises(SettingError, match="no answer to regenerate"):
        await harness.engine.regenerate(KEY, RecordingReply(), user_id="u1")


async def test_channel_settings_apply_to_threads_and_requests(harness):
    channel = KEY.channel_key()
    await harness.engine.change_setting(channel, "temperature", "0.25")
    await harness.engine.change_setting(channel, "system_prompt", "You are terse.")
    await harness.engine.handle(msg("hi"), RecordingReply())
    body = harness.llm.requests[0].body
    assert body["temperature"] == 0.25
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    with pytest.raises(SettingError, match="0 to 2"):
        await harness.engine.change_setting(KEY, "temperature", "9")
    settings = await harness.engine.settings_for(KEY)
    assert settings.params.temperature == 0.25


async def test_bad_per_request_override_stores_nothing(harness):
    with pytest.raises(SettingError):
        await harness.engine.handle(msg("hi"), RecordingReply(), overrides={"top_p": 3})
    assert await harness.engine.export(KEY) == []


async def test_user_is_sent_as_a_stable_hash(harness):
    await harness.engine.handle(msg("a"), RecordingReply())
    await harness.engine.handle(msg("b"), RecordingReply())
    users = {r.body["user"] for r in harness.llm.requests}
    assert len(users) == 1 and "u1" not in users.pop()


async def test_usage_is_recorded_in_the_ledger(harness):
    await harness.engine.handle(msg("count me"), RecordingReply())
    report = await harness.engine.usage_report("test", "w")
    assert "u1: 1 requests" in report


async def test_other_choices_are_kept_apart_and_reasoning_is_hidden(harness):
    harness.llm.enqueue(answer("<think>secret plan</think>Shown", "Other", reasoning="hmm"))
    reply = RecordingReply()
    result = await harness.engine.handle(msg("q"), reply, overrides={"n": 2})
    assert result.text == "Shown" and reply.text == "Shown"
    stored = (await harness.engine.export(KEY))[-1]
    assert stored.content == "Shown"
    assert "secret" not in stored.content


async def test_shutdown_fails_live_answers_with_a_notice(harness):
    harness.llm.enqueue(events(chunk("partial"), Pause(5)))
    reply = RecordingReply()
    task = asyncio.create_task(harness.engine.handle(msg("long"), reply))
    await asyncio.wait_for(reply.first_text.wait(), 5)
    await asyncio.wait_for(harness.engine.close(finish_within=0), 5)
    result = await task
    assert result.status is TurnStatus.FAILED and reply.text == "partial"
    assert "restarting" in reply.notice


async def test_regenerate_clicked_while_the_answer_streams_supersedes_it_after_it_ends(harness):
    harness.llm.enqueue(answer("first take", chunk_delay=0.02), answer("second take"))
    first, second = RecordingReply(), RecordingReply()
    streaming = asyncio.create_task(harness.engine.handle(msg("q"), first))
    await asyncio.wait_for(first.first_text.wait(), 5)
    again = await asyncio.wait_for(harness.engine.regenerate(KEY, second, user_id="u1"), 10)
    await streaming
    assert again.text == "second take"
    assert sent_messages(harness.llm.requests[1]) == [("user", "q")]
    statuses = [m.status for m in await harness.engine.export(KEY) if m.role is Role.ASSISTANT]
    assert statuses == [TurnStatus.SUPERSEDED, TurnStatus.COMPLETE]


async def test_a_message_too_long_for_the_context_fails_before_any_request(harness):
    reply = RecordingReply()
    result = await harness.engine.handle(msg("x" * 200_000), reply)
    assert result.status is TurnStatus.FAILED and reply.closed_as == "failed"
    assert "too long" in reply.notice and harness.llm.requests == []
    stored = await harness.engine.export(KEY)
    assert [m.status for m in stored] == [TurnStatus.COMPLETE, TurnStatus.FAILED]
