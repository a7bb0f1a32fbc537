"""Durable answers across two replicas: ``threadline run`` twice on one PostgreSQL database.

Slack HTTP mode: each replica serves its own port and the test is the load balancer, choosing
which replica each signed request goes to. Both replicas talk to one fake Slack workspace and
one fake model. Leases are short (``ANSWER_LEASE_SECONDS=3``, a heartbeat every second), and
every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from sqlalchemy import Row, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.fakes.llm_server import FakeLLMServer, Script, answer
from tests.fakes.process import Process
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import block_action, form_body, mention_event
from tests.fakes.slack_state import Message
from tests.slack.harness import ALICE, CHANNEL, bot_env, llm_user_texts
from tests.slack.process import free_port, threadline_replicas
from tests.slack.test_http_mode import SECRET, HttpSlack
from tests.store.conftest import create_pg_database, drop_pg_database

LEASE = 3
TAKEOVER_WITHIN = 30.0
STOPPED_WITHIN = 10.0
HEALTH_WITHIN = 15.0
SETTLED_WITHIN = 10.0
INTERRUPTED = "_⚠ interrupted by a restart; press Regenerate to try again_"
STOPPED = "_(stopped)_"
SLOW = " ".join(f"word{i:03d}" for i in range(120))
"""About 720 characters in 4-character chunks, 0.2 s apart: the stream lasts about 36 s."""
T = TypeVar("T")


def slow_answer() -> Script:
    return answer(SLOW, chunk_chars=4, chunk_delay=0.2)


@dataclass
class Replica:
    """One running ``threadline run`` and its ports."""

    process: Process
    http_port: int
    ops_port: int

    @property
    def pid(self) -> int:
        return int(self.process.proc.pid)

    def owns(self, owner: str) -> bool:
        """Whether a job owner string (``host:pid:nonce``) is this process."""
        return f":{self.pid}:" in owner

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, leases are simply no longer renewed."""
        self.process.proc.kill()
        await self.process.proc.wait()


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


def _ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


@contextlib.asynccontextmanager
async def replicas(
    slack: FakeSlack, llm: FakeLLMServer, workdir: Path, url: str, count: int = 2
) -> AsyncIterator[list[Replica]]:
    """``count`` replicas in Slack HTTP mode, started at the same moment."""
    ports = _ports(2 * count)
    pairs = [(ports[2 * i], ports[2 * i + 1]) for i in range(count)]
    envs = [
        bot_env(
            slack,
            llm,
            workdir / "unused.db",
            DATABASE_URL=url,
            SLACK_APP_TOKEN="",
            SLACK_SIGNING_SECRET=SECRET,
            HTTP_HOST="127.0.0.1",
            HTTP_PORT=str(http),
            METRICS_HOST="127.0.0.1",
            METRICS_PORT=str(ops),
            ANSWER_LEASE_SECONDS=str(LEASE),
        )
        for http, ops in pairs
    ]
    http_ports = [http for http, _ in pairs]
    async with threadline_replicas(envs, workdir, slack=slack, http_ports=http_ports) as running:
        yield [Replica(p, http, ops) for p, (http, ops) in zip(running, pairs, strict=True)]


# -- the database, as the test sees it -------------------------------------------------------


async def query(url: str, sql: str, **params: Any) -> list[Row[Any]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await engine.dispose()


async def answers(url: str) -> list[tuple[str, str]]:
    """(status, content) of every assistant message, oldest first."""
    rows = await query(
        url, "SELECT status, content FROM messages WHERE role = 'assistant' ORDER BY id"
    )
    return [(str(r.status), str(r.content)) for r in rows]


async def settled(url: str, statuses: list[str], explain: Callable[[], str]) -> list[str]:
    """The answers' contents once their statuses are ``statuses`` and no job is left (an
    answer is stored a moment after the platform shows its final state)."""

    async def check() -> list[str] | None:
        found = await answers(url)
        done = [status for status, _ in found] == statuses and not await job_owners(url)
        return [content for _, content in found] if done else None

    return await eventually(check, SETTLED_WITHIN, lambda: f"{statuses}: {explain()}")


OWNER_LOG = (
    "CREATE TABLE test_owner_changes (message_id bigint, old_owner text, new_owner text)",
    """CREATE FUNCTION test_note_owner() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.owner IS DISTINCT FROM OLD.owner THEN
            INSERT INTO test_owner_changes VALUES (NEW.message_id, OLD.owner, NEW.owner);
        END IF;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER test_owner_changes AFTER UPDATE ON answer_jobs "
    "FOR EACH ROW EXECUTE FUNCTION test_note_owner()",
)


async def log_owner_changes(url: str) -> None:
    """Record every change of a job's owner in ``test_owner_changes`` (a trigger, so no
    change between two looks can be missed)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            for statement in OWNER_LOG:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def owner_changes(url: str) -> list[tuple[int, str, str]]:
    rows = await query(url, "SELECT message_id, old_owner, new_owner FROM test_owner_changes")
    return sorted((int(r.message_id), str(r.old_owner), str(r.new_owner)) for r in rows)


async def job_owners(url: str) -> list[str]:
    return [str(r.owner) for r in await query(url, "SELECT owner FROM answer_jobs")]


async def admin(url: str, sql: str) -> None:
    """Run ``sql`` on the server's ``postgres`` database, as the superuser the tests use."""
    server = make_url(url).set(database="postgres")
    engine = create_async_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def cut_database(url: str) -> None:
    """No new connections to the replicas' database, and every open one is closed."""
    name = make_url(url).database
    await admin(url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await admin(
        url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )


async def restore_database(url: str) -> None:
    await admin(url, f'ALTER DATABASE "{make_url(url).database}" ALLOW_CONNECTIONS true')


# -- what the fakes show ------------------------------------------------------------------


def thread_replies(slack: FakeSlack, ts: str) -> list[Message]:
    return slack.replies(CHANNEL, ts)


def is_final(message: Message) -> bool:
    """Ended: no longer streaming, Regenerate shown and Stop gone."""
    buttons = message.action_ids
    ended = not message.streaming and "threadline_regenerate" in buttons
    return ended and "threadline_stop" not in buttons


def streaming_with_stop(slack: FakeSlack, ts: str) -> Message | None:
    """The answer in thread ``ts`` while it streams with text and its Stop button."""
    for message in thread_replies(slack, ts):
        if message.streaming and message.visible_text and "threadline_stop" in message.action_ids:
            return message
    return None


async def status_of(session: aiohttp.ClientSession, port: int, path: str = "/healthz") -> int:
    try:
        async with session.get(f"http://127.0.0.1:{port}{path}") as response:
            return response.status
    except aiohttp.ClientError:
        return 0


async def health(session: aiohttp.ClientSession, replicas: list[Replica]) -> list[int]:
    """Of every replica: the Slack HTTP port's ``/healthz`` (it reports the database), then
    the ops port's ``/readyz`` (the ops ``/healthz`` is liveness only)."""
    checks = [c for r in replicas for c in ((r.http_port, "/healthz"), (r.ops_port, "/readyz"))]
    return list(await asyncio.gather(*(status_of(session, *check) for check in checks)))


async def eventually(
    check: Callable[[], Awaitable[T | None]], within: float, explain: Callable[[], str]
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``explain()`` after
    ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while True:  # polls other processes' HTTP endpoints: nothing here to wait on
                if found := await check():
                    return found
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"not within {within} s: {explain()}") from None


async def shown(
    slack: FakeSlack, check: Callable[[], Any], within: float, explain: Callable[[], str]
) -> Any:
    """``slack.wait_for(check)``, failing with what the thread and the replicas show."""
    try:
        return await slack.wait_for(check, within=within)
    except TimeoutError:
        raise AssertionError(f"not within {within} s: {explain()}") from None


def describe(slack: FakeSlack, ts: str, replicas: list[Replica]) -> str:
    found = [(m.ts, m.streaming, m.action_ids, m.visible_text) for m in thread_replies(slack, ts)]
    return f"thread shows {found}\n{logs(replicas)}"


def mention(slack: FakeSlack, said: str, *, thread: str | None = None) -> dict[str, Any]:
    return slack.user_says(CHANNEL, f"<@{slack.bot_user}> {said}", thread_ts=thread)


def logs(replicas: list[Replica]) -> str:
    return "\n".join(f"--- replica {i} ---\n{r.process.output()}" for i, r in enumerate(replicas))


# -- 1. start-up ----------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(3))
async def test_two_replicas_start_together_on_a_fresh_database(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path, pg_url: str, attempt: int
) -> None:
    async with replicas(slack, llm, tmp_path, pg_url) as both:
        assert all(r.process.proc.returncode is None for r in both), logs(both)
        revision = await query(pg_url, "SELECT version_num FROM alembic_version")
        assert len(revision) == 1
    assert "duplicate key" not in logs(both)


# -- 2. takeover ----------------------------------------------------------------------------


async def test_a_killed_replica_s_answers_are_taken_over_once_and_a_live_one_s_never(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path, pg_url: str
) -> None:
    llm.enqueue(slow_answer())
    async with replicas(slack, llm, tmp_path, pg_url) as both, aiohttp.ClientSession() as s:
        a, b = both
        await log_owner_changes(pg_url)
        to_a = HttpSlack(s, a.http_port)
        first = mention(slack, "tell me slowly")
        ts = str(first["ts"])
        assert (await to_a.event(slack.event(first)))[0] == 200
        streaming = await shown(
            slack, lambda: streaming_with_stop(slack, ts), 10, lambda: describe(slack, ts, both)
        )
        second = mention(slack, "and then?", thread=ts)
        assert (await to_a.event(slack.event(second)))[0] == 200

        # A is alive and streaming for more than three leases: B takes nothing.
        await asyncio.sleep(3.5 * LEASE)
        taken = await owner_changes(pg_url)
        assert taken == [], f"{taken}\n{logs(both)}"
        owners = await job_owners(pg_url)
        assert len(owners) == 2 and all(map(a.owns, owners)), owners
        assert len(llm.requests) == 1
        assert streaming_with_stop(slack, ts), "the first answer still streams on A"

        await a.kill()
        [interrupted, answered] = await shown(
            slack,
            lambda: len(found := thread_replies(slack, ts)) == 2
            and all(map(is_final, found))
            and found,
            TAKEOVER_WITHIN,
            lambda: describe(slack, ts, both),
        )
        [checkpoint, second_text] = await settled(
            pg_url, ["failed", "complete"], lambda: describe(slack, ts, both)
        )
        changes = await owner_changes(pg_url)
    assert [(a.owns(old), b.owns(new)) for _, old, new in changes] == [(True, True)] * 2, changes
    assert len({answer for answer, _, _ in changes}) == 2, "each job changed hands once"
    assert len(thread_replies(slack, ts)) == 2, describe(slack, ts, both)
    assert checkpoint and SLOW.startswith(checkpoint) and checkpoint != SLOW
    assert interrupted.ts == streaming.ts, "the interrupted message itself was ended"
    text = interrupted.visible_text
    assert text.startswith(checkpoint) and text.endswith(INTERRUPTED), text
    assert not text[len(checkpoint) : -len(INTERRUPTED)].strip()
    assert "▌" not in text and "threadline_stop" not in interrupted.action_ids
    assert "threadline_regenerate" in interrupted.action_ids
    assert answered.visible_text == second_text == "You said: and then?"
    assert len(llm.requests) == 2, "each question went to the model exactly once"
    assert llm_user_texts(llm, 0)[-1] == "tell me slowly"
    assert llm_user_texts(llm, 1)[-1] == "and then?"


# -- 3. stop on the other replica -----------------------------------------------------------


async def test_stop_clicked_on_the_other_replica_stops_the_answer(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path, pg_url: str
) -> None:
    llm.enqueue(slow_answer())
    async with replicas(slack, llm, tmp_path, pg_url) as both, aiohttp.ClientSession() as s:
        a, b = both
        await log_owner_changes(pg_url)
        question = mention(slack, "go on and on")
        ts = str(question["ts"])
        assert (await HttpSlack(s, a.http_port).event(slack.event(question)))[0] == 200
        streaming: Message = await shown(
            slack, lambda: streaming_with_stop(slack, ts), 10, lambda: describe(slack, ts, both)
        )
        click = block_action(
            action_id="threadline_stop",
            value=streaming.button_value("threadline_stop"),
            user=ALICE,
            team=slack.team,
            channel=CHANNEL,
            message=streaming.as_event_message(),
            response_url=slack.response_url("stop"),
        )
        status, _ = await HttpSlack(s, b.http_port).post(
            form_body(click, interactive=True), content_type="application/x-www-form-urlencoded"
        )
        assert status == 200
        [stopped] = await shown(
            slack,
            lambda: (found := thread_replies(slack, ts)) and is_final(found[0]) and found,
            STOPPED_WITHIN,
            lambda: describe(slack, ts, both),
        )
        await settled(pg_url, ["stopped"], lambda: describe(slack, ts, both))
        assert await owner_changes(pg_url) == [], "the answer never left A"
    assert stopped.ts == streaming.ts and len(thread_replies(slack, ts)) == 1
    text = stopped.visible_text
    assert text.endswith(STOPPED), text
    body = text.removesuffix(STOPPED).strip()
    assert body and SLOW.startswith(body) and body != SLOW
    assert len(llm.requests) == 1
    assert not slack.ephemerals, "the asker was not told the answer had already ended"


# -- 4. database cut ------------------------------------------------------------------------


async def test_a_database_cut_refuses_events_until_it_is_back_then_answers_the_retry_once(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path, pg_url: str
) -> None:
    async with replicas(slack, llm, tmp_path, pg_url) as both, aiohttp.ClientSession() as s:
        to_a, to_b = (HttpSlack(s, r.http_port) for r in both)
        message = mention(slack, "are you there?")
        ts = str(message["ts"])
        # Slack sends two events for a mention in a channel; the balancer spreads them.
        mentioned = slack.event(mention_event(message), "EvCUTMENTION")
        posted = slack.event(message, "EvCUTMESSAGE")
        try:
            await cut_database(pg_url)
            refused = [(await to_a.event(mentioned))[0], (await to_b.event(posted))[0]]
            assert all(500 <= status < 600 for status in refused), refused
            assert await health(s, both) == [503] * 4
        finally:
            await restore_database(pg_url)
        answered: list[int] = []

        async def all_healthy() -> bool:
            answered[:] = await health(s, both)
            return answered == [200] * 4

        await eventually(
            all_healthy, HEALTH_WITHIN, lambda: f"/healthz answered {answered}\n{logs(both)}"
        )
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"}
        retried = [
            (await to_b.event(mentioned, headers=retry))[0],
            (await to_a.event(posted, headers=retry))[0],
        ]
        assert retried == [200, 200]
        [reply] = await shown(
            slack,
            lambda: (found := thread_replies(slack, ts)) and is_final(found[0]) and found,
            10,
            lambda: describe(slack, ts, both),
        )
        assert await health(s, both) == [200] * 4
        stored = await settled(pg_url, ["complete"], lambda: describe(slack, ts, both))
    assert reply.visible_text == "You said: are you there?"
    assert len(thread_replies(slack, ts)) == 1
    assert stored == ["You said: are you there?"]
    assert len(llm.requests) == 1
