"""The leaner delta path: one idle timer per stream, batches read at once, aiohttp transport."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import LLMProtocolError, LLMUnavailable
from bot.llm.base import StreamEvent
from bot.llm.client import LLMTimeouts
from tests.fakes.llm_server import DISCONNECT, DONE, FakeLLMServer, Pause, answer, chunk, events
from tests.llm.conftest import ClientFactory, ask, collect, text_of

SHORT = LLMTimeouts(connect=2.0, first_token=1.0, idle=0.3)


def _sse(payload: dict[str, object]) -> str:
    import json

    return f"data: {json.dumps(payload)}\n\n"


async def test_events_before_a_broken_chunk_in_the_same_read_are_delivered(
    make_client: ClientFactory, server: FakeLLMServer
) -> None:
    body = _sse(chunk("fine")) + _sse(chunk(" still")) + 'data: {"choices": [\n\n' + DONE
    server.enqueue(events(body))  # one write: one read carries all of it
    got: list[StreamEvent] = []
    with pytest.raises(LLMProtocolError, match="not valid JSON"):
        await collect(make_client(max_retries=0), ask(), into=got)
    assert text_of(got) == "fine still"


async def test_a_connection_lost_mid_answer_is_unavailable_not_a_connect_timeout(
    make_client: ClientFactory, server: FakeLLMServer
) -> None:
    server.enqueue(events(chunk("Partial"), Pause(0.05), DISCONNECT))
    got: list[StreamEvent] = []
    with pytest.raises(LLMUnavailable) as caught:
        await collect(make_client(max_retries=0), ask(), into=got)
    assert "connect timeout" not in str(caught.value)
    assert text_of(got) == "Partial"


async def test_a_stream_longer_than_the_idle_timeout_in_all_completes(
    make_client: ClientFactory, server: FakeLLMServer
) -> None:
    text = "x" * 60  # 20 chunks 40 ms apart: 0.8 s in all, never 0.3 s between two
    server.enqueue(answer(text, chunk_chars=3, chunk_delay=0.04))
    got = await collect(make_client(timeouts=SHORT), ask())
    assert text_of(got) == text


async def test_time_spent_by_the_consumer_is_not_idle_time(
    make_client: ClientFactory, server: FakeLLMServer
) -> None:
    server.enqueue(answer("slow reader", chunk_chars=4))
    seen = ""
    async for event in make_client(timeouts=SHORT).stream(ask()):
        seen += getattr(event, "text", "")
        await asyncio.sleep(0.4)  # longer than the idle timeout, outside the read
    assert seen == "slow reader"


async def test_cancelling_a_waiting_stream_is_a_cancellation_not_a_timeout(
    make_client: ClientFactory, server: FakeLLMServer
) -> None:
    server.enqueue(events(chunk("Partial"), Pause(30)))
    client = make_client(timeouts=LLMTimeouts(connect=2.0, first_token=2.0, idle=0.2))
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in client.stream(ask()):
            first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)  # past the idle deadline: no stray timer cancels anything
    server.enqueue(answer("again"))
    assert text_of(await collect(client, ask())) == "again"
