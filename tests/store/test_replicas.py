"""Two engines ("replicas") sharing one PostgreSQL database answer a conversation in turn."""

from __future__ import annotations

import asyncio

from bot.llm.client import build_http_client
from bot.model import ConversationKey, IncomingMessage
from bot.store.db import open_store
from bot.store.migrate import upgrade
from bot.store.pglock import lock_id
from tests.core.conftest import make_engine
from tests.fakes.llm_server import FakeLLMServer, Pause, answer, chunk, events
from tests.fakes.replies import RecordingReply
from tests.store.conftest import in_thread

KEY = ConversationKey("slack", "T1", "C1", "1700000000.000100")


def msg(text):
    return IncomingMessage(KEY, f"m-{text}", "u1", "Ann", text)


async def test_replicas_take_turns_on_one_conversation(fresh_pg_url):
    in_thread(upgrade, fresh_pg_url)
    async with (
        FakeLLMServer() as llm,
        open_store(fresh_pg_url) as store_a,
        open_store(fresh_pg_url) as store_b,
        build_http_client(llm.base_url, 2.0) as http,
    ):
        replica_a, replica_b = make_engine(store_a, http), make_engine(store_b, http)
        llm.enqueue(events(chunk("from A"), Pause(0.4), chunk("", finish_reason="stop")))
        llm.enqueue(answer("from B"))
        first, second = RecordingReply(), RecordingReply()
        task_a = asyncio.create_task(replica_a.handle(msg("one"), first))
        await asyncio.wait_for(first.first_text.wait(), 5)
        task_b = asyncio.create_task(replica_b.handle(msg("two"), second))
        await asyncio.sleep(0.2)
        # The queued answer shows nothing until its turn: no message the running one overtakes.
        assert len(llm.requests) == 1 and not second.started and not second.parts
        await asyncio.wait_for(asyncio.gather(task_a, task_b), 10)
        sent = [(m["role"], m["content"]) for m in llm.requests[1].body["messages"][1:]]
        assert sent == [("user", "one"), ("assistant", "from A"), ("user", "two")]


def test_lock_ids_are_stable_and_distinct():
    other = ConversationKey("slack", "T1", "C1", "")
    assert lock_id(KEY) == lock_id(ConversationKey("slack", "T1", "C1", "1700000000.000100"))
    assert lock_id(KEY) != lock_id(other)
    assert -(2**63) <= lock_id(KEY) < 2**63
