"""Fixtures for the completions client: a fake endpoint on loopback and clients against it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from bot.llm.base import CompletionRequest, StreamEvent, TextDelta
from bot.llm.client import ChatCompletionsClient, LLMTimeouts, build_http_client
from bot.params import GenerationParams
from tests.fakes.llm_server import FakeLLMServer

API_KEY = "sk-test-0123456789abcdef"
FAST = LLMTimeouts(connect=2.0, first_token=2.0, idle=2.0)


class RecordingSleep:
    """An injected ``sleep`` that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
async def http(server: FakeLLMServer) -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client(server.base_url, 2.0) as client:
        yield client


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


ClientFactory = Callable[..., ChatCompletionsClient]


@pytest.fixture
def make_client(http: httpx.AsyncClient, sleep: RecordingSleep) -> ClientFactory:
    """``make_client(timeouts=..., max_retries=...)``: a client on the fake server."""

    def make(timeouts: LLMTimeouts = FAST, max_retries: int = 2) -> ChatCompletionsClient:
        return ChatCompletionsClient(
            http, api_key=API_KEY, timeouts=timeouts, max_retries=max_retries, sleep=sleep
        )

    return make


@pytest.fixture
def client(make_client: ClientFactory) -> ChatCompletionsClient:
    return make_client()


def ask(text: str = "hello", **params: Any) -> CompletionRequest:
    """A one-message request; ``params`` are ``GenerationParams`` fields."""
    params.setdefault("model", "fake-model")
    user = params.pop("user", None)
    return CompletionRequest([{"role": "user", "content": text}], GenerationParams(**params), user)


async def collect(
    client: ChatCompletionsClient, request: CompletionRequest, into: list[StreamEvent] | None = None
) -> list[StreamEvent]:
    """Every streamed event; with ``into``, events stay there when the stream raises."""
    events = into if into is not None else []
    stream = client.stream(request)
    try:
        async for event in stream:
            events.append(event)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return events


def text_of(events: list[StreamEvent], index: int = 0) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta) and e.index == index)


@pytest.fixture
def unresponsive_port() -> Iterator[int]:
    """A loopback port whose accept queue is full, so new connections hang (connect timeout)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
