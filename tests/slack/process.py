"""``threadline run`` as a real subprocess (``python -m bot run``) against the fakes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.fakes.slack_api import FakeSlack

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 30.0
OWN_VARIABLES = ("SLACK_", "LLM_", "DISCORD", "THREADLINE_", "DATABASE_URL", "HTTP_", "METRICS_")
STOP_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextlib.asynccontextmanager
async def threadline_run(
    env: dict[str, str], workdir: Path, *, slack: FakeSlack, http_port: int | None = None
) -> AsyncIterator[Process]:
    """Start ``python -m bot run`` and wait until it serves Slack; SIGTERM it afterwards."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    full.update(env)
    full["PYTHONPATH"] = str(REPO)
    log = workdir / f"threadline-{len(list(workdir.glob('threadline-*.log')))}.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=workdir, env=full, stdout=sink, stderr=sink
        )
    running = Process(proc, log)
    try:
        await _wait_ready(running, slack, http_port)
        yield running
    finally:
        await _terminate(proc)


async def _wait_ready(running: Process, slack: FakeSlack, http_port: int | None) -> None:
    async with asyncio.timeout(START_SECONDS):
        while running.proc.returncode is None:
            if await _ready(slack, http_port):
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"threadline exited early:\n{running.output()}")


async def _ready(slack: FakeSlack, http_port: int | None) -> bool:
    if http_port is None:
        return slack.socket.connected.is_set()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{http_port}/healthz") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
