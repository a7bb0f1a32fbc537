"""The ops port of ``threadline run`` (Slack Socket Mode fake): ``/metrics`` after an answer,
``/readyz`` while connected, after the websocket drops, while the database is cut, and during
shutdown. Every wait is bounded; nothing asserts on durations."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.llm_server import FakeLLMServer, answer
from tests.fakes.outage import cut, restore
from tests.fakes.process import Process
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import CHANNEL, Driver, bot_env
from tests.slack.process import free_port, threadline_run
from tests.store.conftest import pg_database

WITHIN = 20.0
SLOW = " ".join(f"word{i:03d}" for i in range(100))
"""About 600 characters in 4-character chunks, 0.2 s apart: streams for about 30 s."""

ANSWERS = "threadline_answers_total"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Ops:
    """The ops port of one running ``threadline run``."""

    def __init__(self, session: aiohttp.ClientSession, port: int, process: Process) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{port}"
        self.process = process

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        try:
            async with self.session.get(self.base + "/readyz") as response:
                return response.status, await response.json()
        except aiohttp.ClientError as exc:
            return 0, {"error": str(exc)}

    async def ready_becomes(self, status: int) -> dict[str, Any]:
        """Poll ``/readyz`` until it answers ``status``; its body."""
        seen: tuple[int, dict[str, Any]] = (0, {})
        try:
            async with asyncio.timeout(WITHIN):
                while (seen := await self.readiness())[0] != status:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(
                f"/readyz never answered {status}: last {seen}\n{self.process.output()}"
            ) from None
        return seen[1]

    async def answered(self, count: int) -> Samples:
        """Poll ``/metrics`` until ``count`` answers are counted (stored after they show)."""
        samples: Samples = {}
        complete = {"platform": "slack", "outcome": "complete"}
        try:
            async with asyncio.timeout(WITHIN):
                while value(samples := await self.samples(), ANSWERS, **complete) != count:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"no answer counted\n{self.process.output()}") from None
        return samples

    async def samples(self) -> Samples:
        async with self.session.get(self.base + "/metrics") as response:
            assert response.status == 200
            text = await response.text()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def ops_env(slack: FakeSlack, llm: FakeLLMServer, database: str, port: int) -> dict[str, str]:
    env = bot_env(slack, llm, Path("unused"), METRICS_PORT=str(port), METRICS_HOST="127.0.0.1")
    env["DATABASE_URL"] = database
    env["ANSWER_LEASE_SECONDS"] = "3"  # a heartbeat a second: health comes back quickly
    return env


async def eventually(check: Callable[[], Any], explain: Callable[[], str]) -> None:
    try:
        async with asyncio.timeout(WITHIN):
            while not check():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(explain()) from None


async def test_metrics_after_an_answer_and_readiness_through_a_drop_and_shutdown(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    port = free_port()
    env = ops_env(slack, llm, f"sqlite+aiosqlite:///{tmp_path / 'threadline.db'}", port)
    llm.enqueue(answer("Hello from the ops test, with a few words.", prompt_tokens=21))
    slack.rate_limit_next("assistant.threads.setStatus", 1)  # best effort: not retried
    async with (
        threadline_run(env, tmp_path, slack=slack) as running,
        aiohttp.ClientSession() as session,
    ):
        ops = Ops(session, port, running)
        assert await ops.ready_becomes(200) == {"ready": True}
        driver = Driver(slack)
        ts = await driver.mention("hello")
        await driver.finished(CHANNEL, ts)
        _assert_one_answer_measured(await ops.answered(1))

        held = slack.hold("apps.connections.open")  # the reconnection waits
        await slack.socket.close()
        assert (await ops.ready_becomes(503))["not_ready"] == ["slack"]
        held.set()
        await ops.ready_becomes(200)

        llm.enqueue(answer(SLOW, chunk_chars=4, chunk_delay=0.2))
        slow = await driver.mention("a long one please")
        await eventually(
            lambda: any(m.thread_ts == slow for m in slack.bot_messages(CHANNEL)),
            running.output,
        )
        running.proc.send_signal(signal.SIGTERM)
        body = await ops.ready_becomes(503)  # live answers get a few seconds to finish
        assert body == {"ready": False, "not_ready": ["shutting down"]}
        assert (await session.get(ops.base + "/healthz")).status == 200
        await asyncio.wait_for(running.proc.wait(), WITHIN)


def _assert_one_answer_measured(samples: Mapping[Any, float]) -> None:
    slack = {"platform": "slack"}
    for histogram in (
        "threadline_queue_wait_seconds",
        "threadline_event_to_first_text_seconds",
        "threadline_event_to_final_seconds",
    ):
        assert value(samples, f"{histogram}_count", **slack) == 1, histogram
    assert value(samples, "threadline_llm_time_to_first_token_seconds_count") == 1
    assert value(samples, "threadline_llm_request_duration_seconds_count") == 1
    tokens = {"model": "fake-model", "direction": "input", "estimated": "false"}
    assert value(samples, "threadline_llm_tokens_total", **tokens) == 21
    calls = "threadline_platform_calls_total"
    assert value(samples, calls, method="auth.test", **slack) == 1
    assert value(samples, calls, method="chat.startStream", **slack) == 1
    limited = "threadline_platform_rate_limited_total"
    assert value(samples, limited, method="assistant.threads.setStatus", **slack) == 1
    assert value(samples, calls, method="assistant.threads.setStatus", **slack) == 1
    assert value(samples, limited, method="chat.startStream", **slack) is None
    assert value(samples, "threadline_live_streams") == 0


async def test_readyz_is_503_while_the_database_is_cut(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    port = free_port()
    with pg_database() as url:
        env = ops_env(slack, llm, url, port)
        async with (
            threadline_run(env, tmp_path, slack=slack) as running,
            aiohttp.ClientSession() as session,
        ):
            ops = Ops(session, port, running)
            await ops.ready_becomes(200)
            try:
                await cut(url)
                assert (await ops.ready_becomes(503))["not_ready"] == ["database"]
                assert (await session.get(ops.base + "/healthz")).status == 200
            finally:
                await restore(url)
            await ops.ready_becomes(200)
