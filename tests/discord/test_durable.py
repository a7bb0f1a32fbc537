"""Durable answers on Discord, end to end through ``threadline run`` (a real process, the real
discord.py client, the loopback fakes): a process killed mid-answer, a database that goes away,
and who may press Stop.

Leases are short (``ANSWER_LEASE_SECONDS=3``); every wait is bounded by the fakes' timeouts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.reply.split import join_parts
from tests.discord.harness import bot_env, finished, is_final, is_streaming
from tests.discord.process import kill_hard, threadline_run
from tests.fakes.discord_api import EPHEMERAL, FakeDiscord, StoredMessage, opt
from tests.fakes.llm_server import FakeLLMServer, Pause, Step, answer, chunk, events
from tests.fakes.outage import cut, restore, sqlite_rows
from tests.store.conftest import pg_database

LEASE = {"ANSWER_LEASE_SECONDS": "3"}
NOTICE = "_⚠ interrupted by a restart; press Regenerate to try again_"
CURSOR = " ▌"
SENTENCE = "Durable answers survive a process that dies in the middle of writing them. "
# Long enough to roll over into a second Discord message (2,000 characters each).
INTERRUPTED = "".join(f"[{i:02d}] {SENTENCE}" for i in range(34))


def _stalled_after(text: str, piece: int = 100) -> list[Step]:
    """Stream ``text`` slowly, then stall (the process is killed during the stall)."""
    steps: list[Step] = [chunk("", role="assistant")]
    for start in range(0, len(text), piece):
        steps += [chunk(text[start : start + piece]), Pause(0.03)]
    return [*steps, Pause(120.0)]


def _button(message: StoredMessage, action: str) -> str:
    return next(i for i in message.custom_ids() if i.startswith(f"tl:{action}:"))


async def _new_thread(fake: FakeDiscord, prompt: str) -> int:
    before = len(fake.threads_of(fake.general))
    await fake.slash("chat", [opt("prompt", prompt)])
    threads = await fake.wait_until(lambda: fake.threads_of(fake.general)[before:])
    return int(threads[0]["id"])


def _answers(db: Path) -> list[tuple[str, str, list[str]]]:
    """(status, content, platform message ids) of every stored answer, oldest first."""
    rows = sqlite_rows(
        db,
        "SELECT status, content, platform_message_ids FROM messages "
        "WHERE role = 'assistant' ORDER BY id",
    )
    return [(status, content, json.loads(ids or "[]")) for status, content, ids in rows]


async def test_killed_mid_answer_is_ended_after_restart_and_the_queue_goes_on(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    db = tmp_path / "threadline.db"
    env = bot_env(fake, llm, tmp_path, **LEASE)
    async with threadline_run(env, tmp_path, fake) as running:
        llm.enqueue(events(*_stalled_after(INTERRUPTED)))
        thread = await _new_thread(fake, "tell me about durable answers")

        def all_text_shown() -> list[StoredMessage] | None:
            found = fake.bot_messages(thread)
            return found if found and "[33]" in found[-1].content else None

        shown = await fake.wait_until(all_text_shown)
        assert len(shown) == 2 and is_streaming(shown[-1])
        await fake.user_message(thread, "and a second question")

        # The text and both messages are checkpointed; the second question waits its turn
        # (stored, queued, nothing shown: it must not overtake the running answer).
        def saved() -> bool:
            answers = _answers(db)
            return len(answers) == 2 and answers[0][1:] == (
                INTERRUPTED,
                [str(m.id) for m in shown],
            )

        await fake.wait_until(saved)
        assert [a[0] for a in _answers(db)] == ["streaming", "queued"]
        assert len(fake.bot_messages(thread)) == 2
        await kill_hard(running)

    async with threadline_run(env, tmp_path, fake):
        after = await finished(fake, thread, count=2, text="You said: and a second question")
        stored = [("failed", INTERRUPTED), ("complete", "You said: and a second question")]
        await fake.wait_until(lambda: [(a[0], a[1]) for a in _answers(db)] == stored)
    ended, queued = after[:2], after[2:]
    assert [m.id for m in ended] == [m.id for m in shown]  # the same messages, edited
    joined = join_parts([m.content for m in ended])
    assert joined.startswith(INTERRUPTED) and joined.endswith(NOTICE), joined[-200:]
    assert not any(CURSOR in m.content or is_streaming(m) for m in after)
    assert not ended[0].custom_ids() and is_final(ended[-1])  # Stop became Regenerate etc.
    assert [m.content for m in queued] == ["You said: and a second question"]
    assert min(m.id for m in queued) > max(m.id for m in ended)  # answered after it
    assert sqlite_rows(db, "SELECT count(*) FROM answer_jobs") == [(0,)]
    assert len(llm.requests) == 2  # the interrupted answer is not asked for again


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_database() as url:
        yield url


def _around_general(fake: FakeDiscord) -> list[StoredMessage]:
    """The bot's messages in ``general`` and in every thread opened on it."""
    channels = [fake.general, *(int(t["id"]) for t in fake.threads_of(fake.general))]
    return [m for c in channels for m in fake.bot_messages(c)]


def _answered(fake: FakeDiscord, text: str) -> bool:
    return any(m.content == text and is_final(m) for m in _around_general(fake))


async def test_database_outage_is_told_at_once_and_survived(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path, pg_url: str
) -> None:
    env = bot_env(fake, llm, tmp_path, DATABASE_URL=pg_url, **LEASE)
    async with threadline_run(env, tmp_path, fake) as running:
        await fake.user_message(fake.general, "before", mention_bot=True)
        await fake.wait_until(lambda: _answered(fake, "You said: before"))

        await cut(pg_url)
        try:
            await fake.user_message(fake.general, "during", mention_bot=True)
            notices = await fake.wait_until(
                lambda: [m for m in _around_general(fake) if "could not save" in m.content]
            )
            assert len(notices) == 1 and notices[0].channel_id == fake.general
            assert running.proc.returncode is None
        finally:
            await restore(pg_url)

        await fake.user_message(fake.general, "after", mention_bot=True)
        await fake.wait_until(lambda: _answered(fake, "You said: after"), within=30)
        assert running.proc.returncode is None
        assert not any("during" in m.content for m in _around_general(fake))
    assert "Traceback" not in running.output(), running.output()


async def test_stop_belongs_to_the_asker(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    words = "".join(f"word{i} " for i in range(300))
    llm.enqueue(answer(words, chunk_chars=6, chunk_delay=0.05))
    async with threadline_run(bot_env(fake, llm, tmp_path, **LEASE), tmp_path, fake):
        thread = await _new_thread(fake, "ramble on")
        live = await fake.wait_until(
            lambda: [
                m for m in fake.bot_messages(thread) if is_streaming(m) and "word" in m.content
            ]
        )
        message = live[0]

        refused = await fake.responded(
            await fake.click(message.id, _button(message, "stop"), user="bob")
        )
        alice = fake.users["alice"]["id"]
        assert refused["type"] == 4 and refused["data"]["flags"] & EPHEMERAL
        assert refused["data"]["content"] == (
            f"Only the person who asked (<@{alice}>) or an admin can stop this answer."
        )
        size = len(fake.messages[message.id].content)
        await fake.wait_until(
            lambda: len(fake.messages[message.id].content) > size + 20
            and is_streaming(fake.messages[message.id])
        )

        await fake.click(message.id, _button(message, "stop"), user="alice")
        stopped = await finished(fake, thread)
        assert stopped[-1].content.endswith("_(stopped)_")
        assert "word299" not in stopped[-1].content
    stored = sqlite_rows(
        tmp_path / "threadline.db",
        "SELECT status FROM messages WHERE role = 'assistant' ORDER BY id",
    )
    assert stored == [("stopped",)]
