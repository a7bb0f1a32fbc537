"""Durable answers on Slack with SQLite, end to end: ``python -m bot run`` as a subprocess.

What a user would see when the process is killed (``kill -9``) or stopped (SIGTERM) while
answers stream and more wait behind them, whether answers keep their order when edits are
scarce, and who may press Stop and Regenerate. The SQLite file is read directly to check what
was stored. Every wait is bounded; leases are short (``ANSWER_LEASE_SECONDS=2``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from tests.fakes.llm_server import DONE, FakeLLMServer, Pause, Script, Step, chunk, events
from tests.fakes.process import Process
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_state import Message
from tests.slack.harness import ADMIN, ALICE, BOB, CHANNEL, DM, Driver, bot_env
from tests.slack.process import free_port, threadline_run

CURSOR = "▌"
STOP = "threadline_stop"
REGENERATE = "threadline_regenerate"
INTERRUPTED = "\n\n_⚠ interrupted by a restart; press Regenerate to try again_"
RESTARTING = "Threadline is restarting; please ask again in a moment."
STOPPED = "\n\n_(stopped)_"
ONLY_ALICE_STOPS = "Only the person who asked (<@U0ALICE>) or an admin can stop this answer."
ONLY_ALICE_REGENERATES = (
    "Only the person who asked (<@U0ALICE>) or an admin can regenerate this answer."
)
LEASE = "2"
_T = TypeVar("_T")


# -- running the bot ------------------------------------------------------------------------


@dataclass
class Run:
    """One ``threadline run`` process and the workspace it serves."""

    process: Process
    driver: Driver

    async def kill(self) -> None:
        """``kill -9``: nothing runs after this, not even a close of the socket."""
        self.process.proc.kill()
        await asyncio.wait_for(self.process.proc.wait(), 10)


@contextlib.asynccontextmanager
async def threadline(
    slack: FakeSlack, llm: FakeLLMServer, workdir: Path, **extra: str
) -> AsyncIterator[Run]:
    """``threadline run`` on ``workdir/threadline.db`` (Socket Mode, short leases). Its log is
    printed afterwards, so a failing test shows it."""
    await slack.wait_for(lambda: not slack.socket.connected.is_set(), within=10)
    extra.setdefault("HTTP_PORT", str(free_port()))
    extra.setdefault("ANSWER_LEASE_SECONDS", LEASE)
    env = bot_env(slack, llm, workdir / "threadline.db", **extra)
    running: Process | None = None
    try:
        async with threadline_run(env, workdir, slack=slack) as running:
            yield Run(running, Driver(slack))
    finally:
        if running is not None:
            print(f"--- {running.log.name} ---\n{running.output()}")


async def eventually(check: Callable[[], _T | None], within: float, what: str) -> _T:
    """Poll ``check`` (for things the fake is not told about, like the database)."""
    try:
        async with asyncio.timeout(within):
            while True:
                if result := check():
                    return result
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not within {within:.0f} s: {what}") from None


# -- what Slack shows -----------------------------------------------------------------------


def conversation(slack: FakeSlack, channel: str, thread: str | None) -> list[Message]:
    """The bot's messages of one conversation, oldest first."""
    found = [m for m in slack.bot_messages(channel) if m.thread_ts == thread]
    return sorted(found, key=lambda m: tuple(int(p) for p in m.ts.split(".")))


def shown(messages: list[Message]) -> str:
    """What the messages show together, the "still writing" cursor left out."""
    return "".join(m.visible_text.replace(f" {CURSOR}", "") for m in messages)


def streaming(messages: list[Message]) -> bool:
    return any(STOP in m.action_ids for m in messages)


def assert_settled(messages: list[Message]) -> None:
    """Every message shows a final state: no cursor, no Stop, Regenerate offered."""
    for m in messages:
        assert CURSOR not in m.visible_text, m
        assert STOP not in m.action_ids, m
        assert REGENERATE in m.action_ids, m
        assert not m.streaming, m


# -- what was stored ------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: int
    role: str
    channel: str
    thread: str
    status: str
    content: str
    ids: list[str] = field(default_factory=list)


def stored(db: Path) -> list[Row]:
    """Every stored message, in id order."""
    query = (
        "SELECT m.id, m.role, c.channel, c.thread, m.status, m.content, m.platform_message_ids "
        "FROM messages m JOIN conversations c ON c.id = m.conversation_id ORDER BY m.id"
    )
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        rows = conn.execute(query).fetchall()
    return [Row(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6] or "[]")) for r in rows]


def owed(db: Path, where: str = "1 = 1") -> int:
    """How many answers are still owed (``where`` narrows it down)."""
    query = f"SELECT count(*) FROM answer_jobs WHERE {where}"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        return int(conn.execute(query).fetchone()[0])


def answers(db: Path, channel: str, thread: str = "") -> list[Row]:
    return [
        r
        for r in stored(db)
        if r.role == "assistant" and (r.channel, r.thread) == (channel, thread)
    ]


def all_settled(db: Path) -> bool:
    rows = [r for r in stored(db) if r.role == "assistant"]
    return owed(db) == 0 and all(r.status not in ("queued", "streaming") for r in rows)


def messages_of(slack: FakeSlack, row: Row) -> list[Message]:
    """The platform messages an answer row names, in its order."""
    return [slack.messages[row.channel][ts] for ts in row.ids]


def slow(
    text: str, *, chunk_chars: int = 40, chunk_delay: float = 0.01, stall: float = 0
) -> Script:
    """``text`` streamed in pieces; with ``stall`` the stream then hangs (no end, no [DONE])."""
    steps: list[Step] = [chunk("", role="assistant")]
    for i in range(0, len(text), chunk_chars):
        steps += [chunk(text[i : i + chunk_chars]), Pause(chunk_delay)]
    if stall:
        return events(*steps, Pause(stall))
    return events(*steps, chunk(finish_reason="stop"), DONE)


def prose(tag: str, sentences: int) -> str:
    """Recognisable plain text (nothing Slack formatting would change)."""
    return "".join(f"{tag} sentence {i:03d} of a long answer. " for i in range(sentences))


# -- 1. kill -9 mid-answer ------------------------------------------------------------------

STORY = prose("Story", 140)  # ~5 KB: rolls over into a second message on both paths


async def test_kill_mid_answer_ends_it_with_its_checkpoint_and_answers_the_queue_after_it(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    db = tmp_path / "threadline.db"
    llm.enqueue(slow(STORY, stall=120), slow(STORY, stall=120))
    async with threadline(slack, llm, tmp_path) as run:
        driver = run.driver
        thread = await driver.mention("tell me a long story")  # native stream in a thread
        await driver.say("tell me a long story", channel=DM)  # post + chat.update
        await slack.wait_for(lambda: len(llm.requests) == 2)
        for text in ("second question", "third question"):
            await driver.say(text, channel=CHANNEL, thread=thread)
            await driver.say(text, channel=DM)
        places = [(CHANNEL, thread), (DM, None)]

        def caught_up() -> bool:
            return all(len(shown(conversation(slack, c, t))) >= len(STORY) - 200 for c, t in places)

        await slack.wait_for(caught_up, within=30)
        before = {p: shown(conversation(slack, *p)) for p in places}
        await asyncio.sleep(4)  # a checkpoint interval (3 s) and its poll go by
        for place in places:
            assert streaming(conversation(slack, *place)), "still streaming at the kill"
        assert len(llm.requests) == 2, "the queued questions wait for their turn"
        counts = [len(conversation(slack, *p)) for p in places]
        assert counts == [2, 2], f"nothing else posted: {counts}"
        await run.kill()

    statuses = [r.status for r in stored(db) if r.role == "assistant"]
    assert sorted(statuses) == ["queued"] * 4 + ["streaming"] * 2
    assert owed(db) == 6

    async with threadline(slack, llm, tmp_path):
        await eventually(lambda: all_settled(db), 30, "every owed answer settled")

    for (channel, thread_ts), key_thread in (((CHANNEL, thread), thread), ((DM, None), "")):
        interrupted, second, third = answers(db, channel, key_thread)
        assert (interrupted.status, second.status, third.status) == (
            "failed",
            "complete",
            "complete",
        )
        assert (second.content, third.content) == (
            "You said: second question",
            "You said: third question",
        )
        cut = messages_of(slack, interrupted)
        assert len(cut) == 2, "both messages of the interrupted answer were adopted"
        text = shown(cut)
        assert text.endswith(INTERRUPTED), text[-200:]
        body = text.removesuffix(INTERRUPTED)
        assert STORY.startswith(body), "the checkpoint is a prefix of the streamed text"
        assert body.startswith(before[(channel, thread_ts)]), "nothing shown 4 s before was lost"
        assert body == interrupted.content
        everything = conversation(slack, channel, thread_ts)
        assert_settled(everything)
        later = [messages_of(slack, second), messages_of(slack, third)]
        assert everything == cut + later[0] + later[1], "in answer order, nothing else"
        assert [m.visible_text for m in later[0] + later[1]] == [
            "You said: second question",
            "You said: third question",
        ]
    assert len(llm.requests) == 6, "interrupted answers are not asked for again"


# -- 2. SIGTERM with many answers queued ----------------------------------------------------

CONVERSATIONS = 5
QUESTIONS = 6  # per conversation: 30 in all (every answer costs one chat.update of ~36/min)


async def test_sigterm_leaves_the_queue_to_the_next_start_and_every_question_is_answered_once(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    db = tmp_path / "threadline.db"
    llm.chunk_delay = 0.05  # a slow model: ~0.4 s per answer
    llm.enqueue(slow(prose("Endless", 20), stall=120))  # still writing when the grace is over
    async with threadline(slack, llm, tmp_path) as run:
        driver = run.driver
        threads = [await driver.mention(f"c0 q0 {'long ' * 3}")]
        await slack.wait_for(lambda: llm.requests)  # the endless answer is the first one
        threads += [await driver.mention(f"c{c} q0") for c in (1, 2)]
        places: list[tuple[str, str | None]] = [(CHANNEL, t) for t in threads]
        places += [(DM, None), ("D0BOB", None)]
        for q in range(QUESTIONS):
            for c, (channel, thread) in enumerate(places):
                if channel != CHANNEL or q:
                    user = BOB if channel == "D0BOB" else ALICE
                    await driver.say(f"c{c} q{q}", channel=channel, thread=thread, user=user)
        await slack.wait_for(lambda: len(llm.requests) >= CONVERSATIONS)
        assert run.process.proc.returncode is None
        run.process.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(1)
        late = slack.user_says(CHANNEL, "c2 late", thread_ts=threads[2])
        envelope = await slack.socket.send("events_api", slack.event(late, "EvLATE"))
        with pytest.raises(TimeoutError):
            await envelope.ack(within=3)  # refused while shutting down: Slack will resend
        status = await asyncio.wait_for(run.process.proc.wait(), 30)
    assert status == 0
    first_run = len(llm.requests)
    assert first_run < CONVERSATIONS * QUESTIONS, "the SIGTERM came while answers were queued"
    everything = [m for channel, thread in places for m in conversation(slack, channel, thread)]
    assert_settled(everything)  # what was live ended visibly
    endless = conversation(slack, CHANNEL, threads[0])[0]
    assert endless.visible_text.endswith(f"_⚠ {RESTARTING}_")
    assert owed(db) > 0

    async with threadline(slack, llm, tmp_path) as run:
        await eventually(lambda: not owed(db, "owner = ''"), 10, "the queue taken over")
        await run.driver.deliver(late, event_id="EvLATE", retry=1)  # Slack's redelivery
        await eventually(lambda: all_settled(db), 60, "every queued answer settled")

    total = CONVERSATIONS * QUESTIONS + 1
    assert len(llm.requests) == total, "one request per question: nothing answered twice"
    rows = stored(db)
    for c, (channel, thread) in enumerate(places):
        key_thread = thread or ""
        mine = [r for r in rows if (r.channel, r.thread) == (channel, key_thread)]
        questions = [r.content for r in mine if r.role == "user"]
        replies = [r for r in mine if r.role == "assistant"]
        assert len(replies) == len(questions), f"conversation {c}: one answer per question"
        for question, reply in zip(questions, replies, strict=True):
            if question.startswith("c0 q0"):  # the endless one, ended at the SIGTERM
                assert reply.status == "failed"
            else:
                assert (reply.status, reply.content) == ("complete", f"You said: {question}")
        shown_messages = conversation(slack, channel, thread)
        assert_settled(shown_messages)
        assert shown_messages == [m for r in replies for m in messages_of(slack, r)]
        for reply in replies[1:]:
            assert [m.visible_text for m in messages_of(slack, reply)] == [reply.content]


# -- 3. answer order on the post-then-edit path ----------------------------------------------


THREADS = 5
"""With 2 answers each: every answer costs at least one chat.update, and the bot plans ~36 a
minute (halved after a 429), so more answers would only make the test slower."""


def filler(tag: str, chars: int) -> str:
    words = [f"{tag}w{i}" for i in range(chars // 6)]
    return " ".join(words)[:chars].strip()


async def test_multi_message_answers_keep_their_order_under_a_tight_edit_budget(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    db = tmp_path / "threadline.db"
    llm.chunk_chars, llm.chunk_delay = 25, 0.005  # "You said: <question>", in ~1 s
    slack.limit("chat.update", 40, retry_after=1)
    slack.rate_limit_next("chat.update", 1, retry_after=1)
    async with threadline(slack, llm, tmp_path, SLACK_NATIVE_STREAMING="false") as run:
        driver = run.driver
        for n in (1, 2):
            await driver.say(filler(f"dm{n}", 7000), channel=DM)
        threads = [await driver.mention(filler(f"t{t}q0", 3700)) for t in range(THREADS)]
        for t, thread in enumerate(threads):
            await driver.mention(filler(f"t{t}q1", 3700), thread=thread)
        await eventually(lambda: all_settled(db), 120, "every answer settled")

    places: list[tuple[str, str | None]] = [(DM, None), *((CHANNEL, t) for t in threads)]
    for channel, thread in places:
        rows = answers(db, channel, thread or "")
        assert [r.status for r in rows] == ["complete", "complete"]
        shown_messages = conversation(slack, channel, thread)
        assert_settled(shown_messages)
        by_answer = [messages_of(slack, r) for r in rows]
        assert all(len(ms) >= 2 for ms in by_answer), "each answer rolled over"
        assert shown_messages == by_answer[0] + by_answer[1], "answer 1 entirely before answer 2"
        for row, ms in zip(rows, by_answer, strict=True):
            assert "".join(m.visible_text for m in ms) == row.content
            assert row.content.startswith("You said: ") and len(row.content) > 3600
    assert [c for c in slack.calls if c.status == 429], "the edit budget was tight"


# -- 4. Stop and Regenerate belong to the asker (and admins) ---------------------------------

TALK = " ".join(f"word{i}" for i in range(400)) + "."


async def streaming_reply(slack: FakeSlack, thread: str) -> Message:
    """The first of the thread's messages that shows a Stop button, once it shows some text."""
    message: Message = await slack.wait_for(
        lambda: next(
            (m for m in conversation(slack, CHANNEL, thread) if STOP in m.action_ids), None
        )
    )
    await slack.wait_for(lambda: len(message.visible_text) > 40)
    return message


def told(slack: FakeSlack, user: str) -> list[str]:
    return [str(e["text"]) for e in slack.ephemerals if e.get("user") == user]


async def test_only_the_asker_or_an_admin_may_stop_or_regenerate(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    for _ in range(3):
        llm.enqueue(slow(TALK, chunk_chars=8, chunk_delay=0.015))
    async with threadline(slack, llm, tmp_path, SLACK_ADMIN_USERS=ADMIN) as run:
        driver = run.driver
        first = await driver.mention("talk for a while")
        live = await streaming_reply(slack, first)
        await driver.click(live, STOP, user=BOB)
        await slack.wait_for(lambda: told(slack, BOB))
        assert told(slack, BOB) == [ONLY_ALICE_STOPS]
        [done] = await driver.finished(CHANNEL, first)
        assert done.visible_text == TALK, "Bob's Stop did not stop it"

        before = (done.visible_text, done.blocks, done.edits, list(done.states))
        await asyncio.sleep(0.5)  # the answer is stored just after it shows
        await driver.click(done, REGENERATE, user=BOB)
        await slack.wait_for(lambda: len(told(slack, BOB)) == 2)
        assert told(slack, BOB)[1] == ONLY_ALICE_REGENERATES
        assert (done.visible_text, done.blocks, done.edits, done.states) == before
        assert conversation(slack, CHANNEL, first) == [done] and len(llm.requests) == 1

        for stopper in (ALICE, ADMIN):
            thread = await driver.mention(f"talk again, stopped by {stopper}")
            live = await streaming_reply(slack, thread)
            await driver.click(live, STOP, user=stopper)
            [stopped] = await driver.finished(CHANNEL, thread)
            assert stopped.visible_text.endswith(STOPPED), stopped.visible_text[-80:]
            assert TALK.startswith(stopped.visible_text.removesuffix(STOPPED))
        assert not told(slack, ALICE) and not told(slack, ADMIN)
    statuses = [r.status for r in stored(tmp_path / "threadline.db") if r.role == "assistant"]
    assert statuses == ["complete", "stopped", "stopped"]


async def test_anyone_may_stop_with_answer_controls_for_everyone(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(slow(TALK, chunk_chars=8, chunk_delay=0.015))
    async with threadline(slack, llm, tmp_path, ANSWER_CONTROLS="everyone") as run:
        thread = await run.driver.mention("talk for a while")
        live = await streaming_reply(slack, thread)
        await run.driver.click(live, STOP, user=BOB)
        [stopped] = await run.driver.finished(CHANNEL, thread)
    assert stopped.visible_text.endswith(STOPPED)
    assert not told(slack, BOB)


# -- 5. Regenerate after a reset ------------------------------------------------------------


async def test_regenerate_after_reset_is_refused_privately_and_changes_nothing(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with threadline(slack, llm, tmp_path) as run:
        driver = run.driver
        await driver.say("hello", channel=DM)
        [answer_message] = await driver.finished(DM, None)
        await asyncio.sleep(0.5)  # the answer is stored just after it shows
        assert await driver.command("reset", channel=DM)
        before = (answer_message.visible_text, answer_message.blocks, answer_message.edits)
        states = list(answer_message.states)
        await driver.click(answer_message, REGENERATE, user=ALICE)
        await slack.wait_for(lambda: told(slack, ALICE))
        await asyncio.sleep(0.5)  # room for a wrong edit to arrive
    [note] = told(slack, ALICE)
    assert "reset" in note and "ask again" in note, note
    after = (answer_message.visible_text, answer_message.blocks, answer_message.edits)
    assert after == before and answer_message.states == states
    assert REGENERATE in answer_message.action_ids
    assert conversation(slack, DM, None) == [answer_message]
    assert len(llm.requests) == 1
