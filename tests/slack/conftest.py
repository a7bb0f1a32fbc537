from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import Bot, running_bot


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user("U0ALICE", "Alice")
        fake.add_user("U0BOB", "Bob")
        fake.add_user("U0ADMIN", "Ada", admin=True)
        yield fake


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "threadline.db"


@pytest.fixture
async def bot(slack: FakeSlack, llm: FakeLLMServer, db: Path) -> AsyncIterator[Bot]:
    async with running_bot(slack, llm, db) as running:
        yield running
