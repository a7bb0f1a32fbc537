"""Answers per second across two ``threadline run`` replicas on one PostgreSQL database.

Two real processes (``python -m bot run``, Slack HTTP mode, each on its own port) share a
fresh database on the benchmark server (``benchmarks.pg``). The fake Slack
(``tests.fakes.slack_api``) and a fast fake model (``tests.fakes.llm_server``: answers at once,
in one chunk) run in this process. Signed ``message`` events mentioning the bot go to the
replicas in turn, in 40 channels, all sent at once through a connection pool of 32; the
throughput is answers whose final text is in the fake Slack, divided by the time from the
first event sent to the last answer shown (or to the deadline, ``FINISH_SECONDS``). Every
answer must arrive exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from tempfile import TemporaryDirectory

import aiohttp

from benchmarks import pg
from benchmarks.report import Options, Row, make_row
from tests.fakes.llm_server import FakeLLMServer, answer
from tests.fakes.process import Process, spawned_run
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import sign

NAME = "replicas"
SECRET = "bench-signing-secret"
CHANNELS = 40
QUESTIONS = {"quick": 60, "full": 200}
START_SECONDS = 60.0
FINISH_SECONDS = 300.0
CONNECTIONS = 32


async def measure(options: Options) -> list[Row]:
    questions = QUESTIONS["quick" if options.quick else "full"]
    name = f"threadline_bench_replicas_{uuid.uuid4().hex[:8]}"
    url = await pg.recreate(name)
    try:
        async with FakeSlack() as slack, FakeLLMServer() as llm:
            slack.add_user("U0ALICE", "Alice")
            for i in range(questions):
                llm.enqueue(answer(f"Answer {i}.", chunk_chars=64))
            elapsed, shown = await _run(slack, llm, url, questions)
    finally:
        await pg.drop(name)
    return [_row(questions, elapsed, shown)]


async def _run(slack: FakeSlack, llm: FakeLLMServer, url: str, questions: int) -> tuple[float, int]:
    with TemporaryDirectory(prefix="bench-replicas-") as work:
        async with _replicas(slack, llm, url, Path(work)) as ports:
            connector = aiohttp.TCPConnector(limit=CONNECTIONS)
            async with aiohttp.ClientSession(connector=connector) as session:
                asked = [_question(slack, i) for i in range(questions)]
                started = time.perf_counter()
                await asyncio.gather(
                    *(
                        _post(session, ports[i % len(ports)], event)
                        for i, (_, event) in enumerate(asked)
                    )
                )
                with contextlib.suppress(TimeoutError):  # the row says how many were shown
                    await slack.wait_for(lambda: _all_shown(slack, asked), FINISH_SECONDS)
                elapsed = time.perf_counter() - started
    return elapsed, sum(1 for place, _ in asked if _answers(slack, place) == 1)


def _question(slack: FakeSlack, index: int) -> tuple[tuple[str, str], dict[str, object]]:
    channel = f"C0BENCH{index % CHANNELS:02d}"
    said = slack.user_says(channel, f"<@{slack.bot_user}> question {index}")
    return (channel, str(said["ts"])), slack.event(said)


async def _post(session: aiohttp.ClientSession, port: int, event: dict[str, object]) -> None:
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", **sign(body, SECRET)}
    url = f"http://127.0.0.1:{port}/slack/events"
    async with session.post(url, data=body, headers=headers) as response:
        response.raise_for_status()


def _answers(slack: FakeSlack, place: tuple[str, str]) -> int:
    channel, ts = place
    return sum(
        1 for m in slack.bot_messages(channel) if m.thread_ts == ts and "Answer" in m.visible_text
    )


def _all_shown(slack: FakeSlack, asked: Sequence[tuple[tuple[str, str], object]]) -> bool:
    return all(slack.answer_text(channel, ts).endswith(".") for (channel, ts), _ in asked)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def _replicas(
    slack: FakeSlack, llm: FakeLLMServer, url: str, work: Path
) -> AsyncIterator[list[int]]:
    ports = [_free_port() for _ in range(2)]
    async with contextlib.AsyncExitStack() as stack:
        running: list[Process] = []
        for port in ports:
            env = {
                "SLACK_BOT_TOKEN": slack.bot_token,
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": slack.base_url,
                "LLM_API_KEY": "bench-key",
                "LLM_BASE_URL": llm.base_url,
                "LLM_MODEL": "fake-model",
                "DATABASE_URL": url,
                "HTTP_HOST": "127.0.0.1",
                "HTTP_PORT": str(port),
                "LOG_LEVEL": "warning",
            }
            running.append(await stack.enter_async_context(spawned_run(env, work)))
        await asyncio.gather(*(_serving(p, port) for p, port in zip(running, ports, strict=True)))
        yield ports


async def _serving(process: Process, port: int) -> None:
    async with asyncio.timeout(START_SECONDS), aiohttp.ClientSession() as session:
        while process.proc.returncode is None:  # another process: nothing here to wait on
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"a replica exited:\n{process.output()}")


def _row(questions: int, elapsed: float, exactly_once: int) -> Row:
    rate = exactly_once / elapsed if elapsed > 0 else 0.0
    conditions = (
        f"{questions} questions in {CHANNELS} channels, sent at once to 2 replicas in turn "
        f"(Slack HTTP mode, {CONNECTIONS} connections); fake model answers at once in one "
        f"chunk; {elapsed:.1f} s from the first event to the last answer shown (at most "
        f"{FINISH_SECONDS:.0f} s); answered exactly once: "
        f"{exactly_once}/{questions}; fake Slack and model in the benchmark process"
    )
    return make_row(NAME, f"{rate:.1f} answers/s", exactly_once == questions, conditions)
