from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from bot.app import engine_config
from bot.config import EnvReader, load_settings
from bot.engine import ConversationEngine
from bot.llm.client import ChatCompletionsClient, LLMTimeouts, build_http_client
from bot.store.db import open_store
from tests.fakes.llm_server import FakeLLMServer


@dataclass
class Harness:
    engine: ConversationEngine
    llm: FakeLLMServer
    store: object


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


def make_engine(store, http, *, max_concurrent=32, supersede=False, **env) -> ConversationEngine:
    settings = load_settings(EnvReader({"LLM_API_KEY": "k", **env}))
    config = engine_config(settings)
    client = ChatCompletionsClient(
        http, api_key="k", timeouts=LLMTimeouts(2, 2, 0.5), max_retries=0
    )
    return ConversationEngine(
        store, client, replace(config, max_concurrent=max_concurrent, supersede=supersede)
    )


@pytest.fixture
async def harness(tmp_path, llm) -> AsyncIterator[Harness]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}"
    async with open_store(url, migrate=True) as store, build_http_client(llm.base_url, 2.0) as http:
        yield Harness(make_engine(store, http), llm, store)
