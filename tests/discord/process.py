"""``threadline run`` as a real subprocess (``python -m bot run``) against the Discord fake."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.fakes.discord_api import FakeDiscord
from tests.fakes.process import Process, spawned_run

START_SECONDS = 30.0


@contextlib.asynccontextmanager
async def threadline_run(
    env: dict[str, str], workdir: Path, fake: FakeDiscord
) -> AsyncIterator[Process]:
    """Start ``python -m bot run``; wait until its gateway session is identified; SIGTERM it."""
    sessions = fake.gateway.identified_count()
    async with spawned_run(env, workdir) as running:
        await _wait_ready(running, fake, sessions)
        yield running


async def _wait_ready(running: Process, fake: FakeDiscord, before: int) -> None:
    waiting = asyncio.create_task(fake.wait_ready(before + 1, within=START_SECONDS))
    exited = asyncio.create_task(running.proc.wait())
    await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
    if waiting.done() and waiting.exception() is None:
        exited.cancel()
        return
    waiting.cancel()
    exited.cancel()
    raise AssertionError(f"threadline did not connect:\n{running.output()}")


async def kill_hard(running: Process) -> None:
    """``kill -9`` the process (no shutdown code runs) and reap it."""
    running.proc.kill()
    await asyncio.wait_for(running.proc.wait(), START_SECONDS)
