"""``threadline run`` as a real subprocess (``python -m bot run``) against the Discord fake."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.discord_api import FakeDiscord

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 30.0
STOP_SECONDS = 20.0


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextlib.asynccontextmanager
async def threadline_run(
    env: dict[str, str], workdir: Path, fake: FakeDiscord
) -> AsyncIterator[Process]:
    """Start ``python -m bot run``; wait until its gateway session is identified; SIGTERM it."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LLM_", "DISCORD"))}
    full.update(env)
    full["PYTHONPATH"] = str(REPO)
    log = workdir / f"threadline-{len(list(workdir.glob('threadline-*.log')))}.log"
    sessions = fake.gateway.identified_count()
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=workdir, env=full, stdout=sink, stderr=sink
        )
    running = Process(proc, log)
    try:
        await _wait_ready(running, fake, sessions)
        yield running
    finally:
        await _terminate(proc)


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


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
