"""Metrics recorded by the real engine and completions client against the fake model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry
from yarl import URL

from adapters.discord.endpoints import route_name
from adapters.slack.api import method_name
from bot.app import engine_config
from bot.config import EnvReader, load_settings
from bot.engine import ConversationEngine
from bot.llm.client import ChatCompletionsClient, LLMTimeouts, build_http_client
from bot.metrics import MODEL_CAP, OTHER, CappedLabel, Metrics
from bot.model import ConversationKey, IncomingMessage, TurnStatus
from bot.store.db import open_store
from tests.fakes.llm_server import FakeLLMServer, Pause, answer, chunk, error, events
from tests.fakes.replies import RecordingReply

KEY = ConversationKey("test", "w", "c", "t1")
MODEL = "fake-model"


@dataclass
class Measured:
    engine: ConversationEngine
    metrics: Metrics
    llm: FakeLLMServer

    def value(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def measured(tmp_path, llm) -> AsyncIterator[Measured]:
    metrics = Metrics(CollectorRegistry())
    settings = load_settings(EnvReader({"LLM_API_KEY": "k", "LLM_MODEL": MODEL}))
    url = f"sqlite+aiosqlite:///{tmp_path / 'metrics.db'}"
    async with open_store(url, migrate=True) as store, build_http_client(llm.base_url, 2.0) as http:
        client = ChatCompletionsClient(
            http, api_key="k", timeouts=LLMTimeouts(2, 2, 30), max_retries=1, metrics=metrics
        )
        engine = ConversationEngine(store, client, engine_config(settings), metrics=metrics)
        yield Measured(engine, metrics, llm)
        await engine.close(0)


def msg(text: str) -> IncomingMessage:
    return IncomingMessage(KEY, f"m-{text}", "u1", "Ann", text)


async def test_an_answer_is_timed_counted_and_its_reported_tokens_kept(measured: Measured):
    measured.llm.enqueue(answer("Hello there, Ann!", prompt_tokens=42))
    result = await measured.engine.handle(msg("hello"), RecordingReply())
    assert result.status is TurnStatus.COMPLETE
    assert measured.value("threadline_answers_total", platform="test", outcome="complete") == 1
    for histogram in (
        "threadline_queue_wait_seconds",
        "threadline_event_to_first_text_seconds",
        "threadline_event_to_final_seconds",
    ):
        assert measured.value(f"{histogram}_count", platform="test") == 1, histogram
    assert measured.value("threadline_llm_time_to_first_token_seconds_count") == 1
    assert measured.value("threadline_llm_request_duration_seconds_count") == 1
    tokens = "threadline_llm_tokens_total"
    assert measured.value(tokens, model=MODEL, direction="input", estimated="false") == 42
    assert measured.value(tokens, model=MODEL, direction="output", estimated="false") > 0
    assert measured.value(tokens, model=MODEL, direction="input", estimated="true") is None


async def test_tokens_are_estimated_and_labelled_when_the_endpoint_reports_none(
    measured: Measured,
):
    measured.llm.enqueue(answer("An answer without usage.", usage=False))
    await measured.engine.handle(msg("hello"), RecordingReply())
    tokens = "threadline_llm_tokens_total"
    assert measured.value(tokens, model=MODEL, direction="input", estimated="true") > 0
    assert measured.value(tokens, model=MODEL, direction="output", estimated="true") > 0
    assert measured.value(tokens, model=MODEL, direction="input", estimated="false") is None


async def test_llm_errors_are_counted_by_class_for_every_attempt(measured: Measured):
    measured.llm.enqueue(error(503, retry_after=0), answer("ok"), error(401, "bad key"))
    first = await measured.engine.handle(msg("one"), RecordingReply())
    second = await measured.engine.handle(msg("two"), RecordingReply())
    assert (first.status, second.status) == (TurnStatus.COMPLETE, TurnStatus.FAILED)
    assert measured.value("threadline_llm_errors_total", error="LLMUnavailable") == 1
    assert measured.value("threadline_llm_errors_total", error="LLMAuthError") == 1
    assert measured.value("threadline_answers_total", platform="test", outcome="failed") == 1
    # The failed answer showed no text: it is timed to its final state only.
    assert measured.value("threadline_event_to_final_seconds_count", platform="test") == 2
    assert measured.value("threadline_event_to_first_text_seconds_count", platform="test") == 1


async def test_gauges_read_live_streams_queued_questions_and_leases(measured: Measured):
    engine = measured.engine
    measured.llm.enqueue(events(chunk("Thinking"), Pause(30)), answer("second"))
    first = asyncio.create_task(engine.handle(msg("one"), RecordingReply()))
    await _until(lambda: measured.value("threadline_live_streams") == 1)
    second = asyncio.create_task(engine.handle(msg("two"), RecordingReply()))
    await _until(lambda: measured.value("threadline_queued_questions") == 1)
    assert measured.value("threadline_leases_held") == 2
    assert await engine.stop(KEY)
    assert (await first).status is TurnStatus.STOPPED
    assert (await second).status is TurnStatus.COMPLETE
    assert [
        measured.value(name)
        for name in (
            "threadline_live_streams",
            "threadline_queued_questions",
            "threadline_leases_held",
        )
    ] == [0, 0, 0]
    assert measured.value("threadline_answers_total", platform="test", outcome="stopped") == 1


async def _until(check, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def test_model_names_are_capped():
    metrics = Metrics(CollectorRegistry())
    for i in range(MODEL_CAP + 5):
        metrics.tokens(f"model-{i}", 1, 1, estimated=False)
    metrics.tokens("model-0", 1, 1, estimated=False)

    def inputs(model: str) -> float | None:
        labels = {"model": model, "direction": "input", "estimated": "false"}
        return metrics.registry.get_sample_value("threadline_llm_tokens_total", labels)

    assert inputs("model-0") == 2
    assert inputs(f"model-{MODEL_CAP - 1}") == 1
    assert inputs(f"model-{MODEL_CAP}") is None
    assert inputs(OTHER) == 5


def test_a_capped_label_passes_the_first_values_then_says_other():
    cap = CappedLabel(2)
    assert [cap(v) for v in ("a", "b", "c", "a", "d", "b")] == ["a", "b", OTHER, "a", OTHER, "b"]


def test_metrics_off_records_nothing():
    metrics = Metrics.off()
    metrics.answer_finished("slack", "complete")
    metrics.tokens("m", 1, 2, estimated=True)
    metrics.platform_call("slack", "chat.update", 429)
    assert list(metrics.registry.collect()) == []


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://slack.com/api/chat.postMessage", "chat.postMessage"),
        ("http://127.0.0.1:9/api/apps.connections.open", "apps.connections.open"),
        ("https://hooks.slack.com/commands/T1/2/abcSECRET", None),
        ("https://files.slack.com/files-pri/T1-F1/photo.png", None),
    ],
)
def test_slack_calls_are_named_by_web_api_method(url: str, name: str | None):
    assert method_name("POST", URL(url)) == name


@pytest.mark.parametrize(
    ("verb", "url", "name"),
    [
        (
            "POST",
            "https://discord.com/api/v10/channels/123/messages",
            "POST /channels/{id}/messages",
        ),
        (
            "PATCH",
            "http://127.0.0.1:9/api/v10/webhooks/55/aW50ZXJhY3Rpb246c2VjcmV0/messages/@original",
            "PATCH /webhooks/{id}/{token}/messages/@original",
        ),
        (
            "POST",
            "https://discord.com/api/v10/interactions/77/tok3n/callback",
            "POST /interactions/{id}/{token}/callback",
        ),
        (
            "PUT",
            "https://discord.com/api/v10/channels/1/messages/2/reactions/%F0%9F%91%8D/@me",
            "PUT /channels/{id}/messages/{id}/reactions/{emoji}/@me",
        ),
        ("GET", "ws://127.0.0.1:9/?v=10&encoding=json", None),
    ],
)
def test_discord_calls_are_named_by_route_without_ids_or_tokens(
    verb: str, url: str, name: str | None
):
    assert route_name(verb, URL(url)) == name
