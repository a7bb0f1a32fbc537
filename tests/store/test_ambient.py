"""Channel context storage (``channel_messages``): order, the ``before`` mark, retention,
and erasure with a person's other data; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.model import ConversationKey
from bot.store.ambient import KEEP, SeenMessage
from bot.store.sql import SqlConversationStore

CHANNEL = ConversationKey("discord", "G1", "C1", "")
OTHER = ConversationKey("discord", "G1", "C2", "")
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _seen(n: int, author: str = "U1", at: datetime | None = None) -> SeenMessage:
    return SeenMessage(f"{1000 + n}", author, author.lower(), f"message {n}", at or T0)


async def test_messages_come_back_oldest_first_before_the_mark(
    store: SqlConversationStore,
) -> None:
    for n in (3, 1, 2, 4):  # handled out of order, all within one millisecond
        await store.record_seen(CHANNEL, _seen(n))
    await store.record_seen(OTHER, _seen(9))
    found = await store.recent_seen(CHANNEL, 2, _seen(4))
    assert [m.text for m in found] == ["message 2", "message 3"]
    assert [m.text for m in await store.recent_seen(CHANNEL, 10)] == [
        f"message {n}" for n in (1, 2, 3, 4)
    ]


async def test_each_channel_keeps_only_its_newest_messages(store: SqlConversationStore) -> None:
    for n in range(KEEP + 5):
        await store.record_seen(CHANNEL, _seen(n, at=T0 + timedelta(seconds=n)))
    found = await store.recent_seen(CHANNEL, KEEP + 10)
    assert len(found) == KEEP
    assert found[0].text == "message 5"


async def test_forgetting_a_person_erases_their_kept_messages(
    store: SqlConversationStore,
) -> None:
    await store.record_seen(CHANNEL, _seen(1, "U1"))
    await store.record_seen(CHANNEL, _seen(2, "U2"))
    await store.forget_user("discord", "U1")
    assert [m.author_id for m in await store.recent_seen(CHANNEL, 10)] == ["U2"]
