"""Fixtures shared by the CLI tests: the fake LLM endpoint the ``threadline`` subprocess uses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.llm_server import FakeLLMServer


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server
