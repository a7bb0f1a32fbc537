from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.discord.harness import Bot, running_bot
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(fake, llm, tmp_path) as running:
        yield running
