"""The ``ConversationStore`` contract, run against SQLite and PostgreSQL after real migrations."""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.model import ChatMessage, ConversationKey, Role, TurnStatus, Usage
from bot.store.base import ConversationStore, MessageUpdate, UsageRow
from bot.store.sql import SqlConversationStore
from bot.store.tables import Conversation, Message

from .conftest import FakeClock

KEY = ConversationKey("slack", "T1", "C1", "1700000000.000100")
CHANNEL = ConversationKey("slack", "T1", "C1")
OTHER = ConversationKey("discord", "G1", "C1", "1700000000.000100")


def user(text: str, *ids: str, author: str = "U1") -> ChatMessage:
    return ChatMessage(
        Role.USER, text, author_id=author, author_name=f"name-{author}", platform_message_ids=[*ids]
    )


def bot(text: str, *ids: str, status: TurnStatus = TurnStatus.COMPLETE) -> ChatMessage:
    return ChatMessage(Role.ASSISTANT, text, status=status, platform_message_ids=[*ids], model="m")


async def add_all(
    store: SqlConversationStore, key: ConversationKey, *messages: ChatMessage
) -> list[int]:
    return [await store.add_message(key, message) for message in messages]


def texts(messages: list[ChatMessage]) -> list[str]:
    return [message.content for message in messages]


async def feedback_of(engine: AsyncEngine, message_id: int) -> int | None:
    async with engine.connect() as conn:
        return await conn.scalar(select(Message.feedback).where(Message.id == message_id))


def test_implements_the_protocol_exactly(store: SqlConversationStore) -> None:
    checked: ConversationStore = store
    names = [name for name in vars(ConversationStore) if not name.startswith("_")]
    assert len(names) >= 18
    for name in names:
        expected = inspect.signature(getattr(ConversationStore, name))
        assert inspect.signature(getattr(type(checked), name)) == expected, name
        is_async = inspect.iscoroutinefunction(getattr(ConversationStore, name))
        assert inspect.iscoroutinefunction(getattr(checked, name)) == is_async, name


async def test_round_trip_of_every_field(store: SqlConversationStore, clock: FakeClock) -> None:
    sent = datetime(2025, 2, 1, 9, 30, 15, 123456, tzinfo=UTC)
    message = ChatMessage(
        Role.ASSISTANT,
        "héllo ✓\n```py\nx = 1\n```",
        author_id="B1",
        author_name="Threadline",
        status=TurnStatus.STOPPED,
        platform_message_ids=["m1", "m2"],
        model="llama",
        finish_reason="length",
        usage=Usage(12, 34),
        created_at=sent,
    )
    message_id = await store.add_message(KEY, message)
    [loaded] = await store.load_context(KEY, 10)
    assert loaded == ChatMessage(
        Role.ASSISTANT,
        message.content,
        author_id="B1",
        author_name="Threadline",
        status=TurnStatus.STOPPED,
        id=message_id,
        platform_message_ids=["m1", "m2"],
        model="llama",
        finish_reason="length",
        usage=Usage(12, 34),
        created_at=sent,
    )
    assert loaded.role is Role.ASSISTANT and loaded.status is TurnStatus.STOPPED


async def test_timestamps_are_utc_aware(store: SqlConversationStore, clock: FakeClock) -> None:
    await store.add_message(KEY, user("from clock"))
    naive = datetime(2025, 1, 1, 8, 0)
    await store.add_message(KEY, ChatMessage(Role.USER, "naive", created_at=naive))
    other_zone = datetime(2025, 1, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    await store.add_message(KEY, ChatMessage(Role.USER, "plus two", created_at=other_zone))
    stamps = [message.created_at for message in await store.load_context(KEY, 10)]
    assert stamps == [clock.now, naive.replace(tzinfo=UTC), datetime(2025, 1, 1, 8, 0, tzinfo=UTC)]
    assert all(stamp is not None and stamp.utcoffset() == timedelta(0) for stamp in stamps)


async def test_no_usage_stays_none(store: SqlConversationStore) -> None:
    await store.add_message(KEY, user("hi"))
    [loaded] = await store.load_context(KEY, 1)
    assert loaded.usage is None and loaded.platform_message_ids == []


async def test_context_is_newest_messages_oldest_first(store: SqlConversationStore) -> None:
    ids = await add_all(store, KEY, *(user(f"m{i}") for i in range(7)))
    assert ids == sorted(ids) and len(set(ids)) == 7
    assert texts(await store.load_context(KEY, 3)) == ["m4", "m5", "m6"]
    assert texts(await store.load_context(KEY, 100)) == [f"m{i}" for i in range(7)]
    assert await store.load_context(KEY, 0) == []
    assert await store.load_context(ConversationKey("slack", "T1", "nope"), 5) == []


async def test_conversations_are_separate(store: SqlConversationStore) -> None:
    await store.add_message(KEY, user("thread"))
    await store.add_message(CHANNEL, user("channel"))
    await store.add_message(OTHER, user("discord"))
    assert texts(await store.load_context(KEY, 10)) == ["thread"]
    assert texts(await store.load_context(CHANNEL, 10)) == ["channel"]
    assert texts(await store.load_context(OTHER, 10)) == ["discord"]


async def test_context_keeps_every_status_but_not_deleted(store: SqlConversationStore) -> None:
    await add_all(store, KEY, user("q", "u1"), bot("partial", "b1", status=TurnStatus.FAILED))
    await add_all(store, KEY, user("gone", "u2"), bot("ok", "b2"))
    assert await store.delete_message(KEY, "u2")
    context = await store.load_context(KEY, 10)
    assert texts(context) == ["q", "partial", "ok"]
    assert [m.status for m in context] == [
        TurnStatus.COMPLETE,
        TurnStatus.FAILED,
        TurnStatus.COMPLETE,
    ]


async def test_reset_starts_a_fresh_context(store: SqlConversationStore) -> None:
    await add_all(store, KEY, user("old", "u1"), bot("old answer", "b1"))
    await store.add_message(CHANNEL, user("channel stays"))
    await store.reset(KEY)
    assert await store.load_context(KEY, 10) == []
    assert await store.last_assistant_turn(KEY) is None
    assert texts(await store.load_context(CHANNEL, 10)) == ["channel stays"]
    await add_all(store, KEY, user("new"), bot("new answer"))
    assert texts(await store.load_context(KEY, 10)) == ["new", "new answer"]
    assert texts(await store.export(KEY)) == ["old", "old answer", "new", "new answer"]
    found = await store.find_message(KEY, "u1")
    assert found is not None and found.content == "old"
    assert await store.has_conversation(KEY)


async def test_reset_twice_and_reset_of_unknown_conversation(store: SqlConversationStore) -> None:
    await store.reset(KEY)
    assert await store.load_context(KEY, 10) == []
    await store.add_message(KEY, user("a"))
    await store.reset(KEY)
    await store.reset(KEY)
    await store.add_message(KEY, user("b"))
    assert texts(await store.load_context(KEY, 10)) == ["b"]


async def test_reset_marker_survives_purging_the_newest_rows(
    store: SqlConversationStore, clock: FakeClock
) -> None:
    await add_all(store, KEY, user("one"), user("two"))
    await store.reset(KEY)
    assert await store.purge_before(clock.advance(days=1)) == 2
    await store.add_message(KEY, user("three"))
    assert texts(await store.load_context(KEY, 10)) == ["three"]


async def test_update_message_changes_only_given_fields(store: SqlConversationStore) -> None:
    turn = await store.add_message(KEY, bot("", status=TurnStatus.STREAMING))
    await store.update_message(turn, MessageUpdate(extra={"a": 1}))
    change = MessageUpdate(
        content="done",
        status=TurnStatus.COMPLETE,
        finish_reason="stop",
        usage=Usage(5, 7),
        platform_message_ids=["p1", "p2"],
        extra={"b": 2},
    )
    await store.update_message(turn, change)
    [loaded] = await store.load_context(KEY, 1)
    assert (loaded.content, loaded.status, loaded.finish_reason) == ("done", "complete", "stop")
    assert (loaded.model, loaded.usage, loaded.platform_message_ids) == (
        "m",
        Usage(5, 7),
        ["p1", "p2"],
    )
    await store.update_message(turn, MessageUpdate(status=TurnStatus.SUPERSEDED))
    [again] = await store.load_context(KEY, 1)
    assert (again.content, again.status, again.usage) == (
        "done",
        TurnStatus.SUPERSEDED,
        Usage(5, 7),
    )


async def test_update_merges_extra(store: SqlConversationStore, engine: AsyncEngine) -> None:
    turn = await store.add_message(KEY, bot("x"))
    await store.update_message(turn, MessageUpdate(extra={"a": 1, "b": [1, 2]}))
    await store.update_message(turn, MessageUpdate(extra={"b": "new"}))
    async with engine.connect() as conn:
        extra = await conn.scalar(select(Message.extra).where(Message.id == turn))
    assert extra == {"a": 1, "b": "new"}


async def test_update_of_unknown_message_is_ignored(store: SqlConversationStore) -> None:
    await store.update_message(987654, MessageUpdate(content="nothing"))
    assert await store.export(KEY) == []


async def test_platform_ids_follow_updates(store: SqlConversationStore) -> None:
    turn = await store.add_message(KEY, bot("answer", "p1"))
    await store.update_message(turn, MessageUpdate(platform_message_ids=["p2", "p3", "p2"]))
    assert await store.find_message(KEY, "p1") is None
    for pid in ("p2", "p3"):
        found = await store.find_message(KEY, pid)
        assert found is not None and found.id == turn
    await store.update_message(turn, MessageUpdate(platform_message_ids=[]))
    assert await store.find_message(KEY, "p2") is None


async def test_find_message(store: SqlConversationStore) -> None:
    u, b = await add_all(store, KEY, user("question", "u1"), bot("answer", "b1", "b2"))
    assert (await store.find_message(KEY, "u1")).id == u  # type: ignore[union-attr]
    assert (await store.find_message(KEY, "b2")).id == b  # type: ignore[union-attr]
    assert await store.find_message(KEY, "missing") is None
    assert await store.find_message(OTHER, "u1") is None
    assert await store.find_message(CHANNEL, "u1") is None


async def test_same_platform_id_in_two_conversations(store: SqlConversationStore) -> None:
    await store.add_message(KEY, user("slack", "same"))
    await store.add_message(OTHER, user("discord", "same"))
    assert (await store.find_message(KEY, "same")).content == "slack"  # type: ignore[union-attr]
    assert (await store.find_message(OTHER, "same")).content == "discord"  # type: ignore[union-attr]


async def test_edit_message(store: SqlConversationStore) -> None:
    await add_all(store, KEY, user("typo", "u1"), bot("answer", "b1"))
    assert await store.edit_message(KEY, "u1", "fixed")
    assert texts(await store.load_context(KEY, 10)) == ["fixed", "answer"]
    assert not await store.edit_message(KEY, "b1", "platform echo of a bot edit")
    assert not await store.edit_message(KEY, "unknown", "x")
    assert not await store.edit_message(OTHER, "u1", "x")
    assert await store.delete_message(KEY, "u1")
    assert not await store.edit_message(KEY, "u1", "resurrected")
    assert texts(await store.export(KEY)) == ["answer"]


async def test_delete_message(store: SqlConversationStore, engine: AsyncEngine) -> None:
    u, _ = await add_all(store, KEY, user("secret", "u1"), bot("answer", "b1"))
    assert await store.delete_message(KEY, "u1")
    assert not await store.delete_message(KEY, "u1")
    assert not await store.delete_message(KEY, "unknown")
    assert await store.find_message(KEY, "u1") is None
    assert texts(await store.load_context(KEY, 10)) == ["answer"]
    assert await store.delete_message(KEY, "b1")
    assert await store.export(KEY) == []
    async with engine.connect() as conn:
        kept = await conn.scalar(select(Message.content).where(Message.id == u))
    assert kept == ""


async def test_has_conversation_needs_an_assistant_message(store: SqlConversationStore) -> None:
    assert not await store.has_conversation(KEY)
    await store.add_message(KEY, user("just talking"))
    assert not await store.has_conversation(KEY)
    await store.add_message(KEY, bot("", status=TurnStatus.STREAMING))
    assert await store.has_conversation(KEY)
    await store.reset(KEY)
    assert await store.has_conversation(KEY)
    assert not await store.has_conversation(CHANNEL)


async def test_last_assistant_turn_whatever_its_status(store: SqlConversationStore) -> None:
    assert await store.last_assistant_turn(KEY) is None
    await add_all(store, KEY, user("q1"), bot("a1"), user("q2"))
    last = await store.last_assistant_turn(KEY)
    assert last is not None and last.content == "a1"
    failed = await store.add_message(KEY, bot("partial", "b2", status=TurnStatus.FAILED))
    last = await store.last_assistant_turn(KEY)
    assert last is not None and (last.id, last.status) == (failed, TurnStatus.FAILED)
    await store.delete_message(KEY, "b2")
    last = await store.last_assistant_turn(KEY)
    assert last is not None and last.content == "a1"


async def test_export_is_everything_oldest_first(store: SqlConversationStore) -> None:
    await add_all(store, KEY, *(user(f"m{i}") for i in range(5)))
    await store.reset(KEY)
    await store.add_message(KEY, bot("after"))
    assert texts(await store.export(KEY)) == ["m0", "m1", "m2", "m3", "m4", "after"]
    assert await store.export(OTHER) == []


async def test_purge_before(store: SqlConversationStore, clock: FakeClock) -> None:
    await add_all(store, KEY, user("oldest", "u1"), bot("old", "b1"))
    cutoff = clock.advance(hours=1)
    await add_all(store, KEY, user("at cutoff"))
    clock.advance(hours=1)
    await store.add_message(OTHER, user("newer"))
    assert await store.purge_before(cutoff) == 2
    assert await store.purge_before(cutoff) == 0
    assert texts(await store.export(KEY)) == ["at cutoff"]
    assert texts(await store.export(OTHER)) == ["newer"]
    assert await store.find_message(KEY, "u1") is None
    assert not await store.has_conversation(KEY)


async def test_settings_round_trip(store: SqlConversationStore) -> None:
    assert await store.get_settings(CHANNEL) == {}
    values = {"system_prompt": "Be brief. ✓", "temperature": 0.5, "stop": ["a", "b"], "n": 2}
    await store.set_settings(CHANNEL, values)
    assert await store.get_settings(CHANNEL) == values
    assert await store.get_settings(KEY) == values  # a thread reads its channel's settings
    await store.set_settings(KEY, {"model": "other"})  # and writes them too
    assert await store.get_settings(CHANNEL) == {"model": "other"}
    assert await store.get_settings(ConversationKey("slack", "T2", "C1")) == {}
    assert await store.get_settings(ConversationKey("discord", "T1", "C1")) == {}
    await store.set_settings(CHANNEL, {})
    assert await store.get_settings(CHANNEL) == {}


async def test_claim_event(store: SqlConversationStore) -> None:
    assert await store.claim_event("slack", "Ev1")
    assert not await store.claim_event("slack", "Ev1")
    assert await store.claim_event("discord", "Ev1")
    assert await store.claim_event("slack", "Ev2")


async def test_claim_event_under_concurrency(store: SqlConversationStore) -> None:
    for round_ in range(5):
        results = await asyncio.gather(
            *(store.claim_event("slack", f"E{round_}") for _ in range(8))
        )
        assert sorted(results) == [False] * 7 + [True]


async def test_claim_event_across_two_processes(store_url: str, clock: FakeClock) -> None:
    from bot.store.db import make_engine

    engines = [make_engine(store_url), make_engine(store_url)]
    try:
        stores = [SqlConversationStore(engine, clock=clock) for engine in engines]
        for round_ in range(5):
            claims = [s.claim_event("slack", f"X{round_}") for s in stores for _ in range(2)]
            results = await asyncio.gather(*claims)
            assert results.count(True) == 1
    finally:
        for engine in engines:
            await engine.dispose()


async def test_purge_events_before(store: SqlConversationStore, clock: FakeClock) -> None:
    await store.claim_event("slack", "old")
    cutoff = clock.advance(minutes=30)
    await store.claim_event("slack", "new")
    assert await store.purge_events_before(cutoff) == 1
    assert await store.claim_event("slack", "old")
    assert not await store.claim_event("slack", "new")


async def test_concurrent_first_messages_create_one_conversation(
    store: SqlConversationStore, engine: AsyncEngine
) -> None:
    ids = await asyncio.gather(*(store.add_message(KEY, user(f"m{i}", f"p{i}")) for i in range(12)))
    assert len(set(ids)) == 12
    assert sorted(texts(await store.load_context(KEY, 100))) == sorted(f"m{i}" for i in range(12))
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Conversation)) == 1


async def test_usage_aggregation(store: SqlConversationStore, clock: FakeClock) -> None:
    await store.record_usage(KEY, "U-old", "m", Usage(1000, 1000))
    since = clock.advance(days=1)
    await store.record_usage(KEY, "U1", "m", Usage(10, 5))
    await store.record_usage(CHANNEL, "U1", "m2", Usage(20, 5))
    await store.record_usage(KEY, "U2", "m", Usage(100, 1))
    await store.record_usage(KEY, "U3", "m", Usage(0, 0))
    await store.record_usage(ConversationKey("slack", "T2", "C9"), "U1", "m", Usage(500, 0))
    await store.record_usage(OTHER, "U1", "m", Usage(700, 0))
    rows = await store.usage_by_user("slack", "T1", since)
    assert rows == [
        UsageRow("U2", 1, 100, 1),
        UsageRow("U1", 2, 30, 10),
        UsageRow("U3", 1, 0, 0),
    ]
    assert await store.usage_by_user("slack", "T1", clock.advance(days=1)) == []
    everything = await store.usage_by_user("slack", "T1", since - timedelta(days=2))
    assert everything[0] == UsageRow("U-old", 1, 1000, 1000)


async def test_feedback(store: SqlConversationStore, engine: AsyncEngine) -> None:
    u, b = await add_all(store, KEY, user("q", "u1"), bot("a", "b1"))
    assert await store.set_feedback(KEY, "b1", 1)
    assert await feedback_of(engine, b) == 1
    assert await store.set_feedback(KEY, "b1", -1)
    assert await feedback_of(engine, b) == -1
    assert await store.set_feedback(KEY, "b1", 0)
    assert await feedback_of(engine, b) is None
    assert not await store.set_feedback(KEY, "u1", 1)
    assert await feedback_of(engine, u) is None
    assert not await store.set_feedback(KEY, "unknown", 1)
    assert not await store.set_feedback(OTHER, "b1", 1)
    with pytest.raises(ValueError, match="feedback must be"):
        await store.set_feedback(KEY, "b1", 5)
