"""``threadline run`` as a real subprocess (``python -m bot run``) against the fakes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp

from tests.fakes.process import Process, spawned_run
from tests.fakes.slack_api import FakeSlack

START_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def threadline_run(
    env: dict[str, str], workdir: Path, *, slack: FakeSlack, http_port: int | None = None
) -> AsyncIterator[Process]:
    """Start ``python -m bot run`` and wait until it serves Slack; SIGTERM it afterwards."""
    async with spawned_run(env, workdir) as running:
        await _wait_ready(running, slack, http_port)
        yield running


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


@contextlib.asynccontextmanager
async def threadline_replicas(
    envs: Sequence[dict[str, str]], workdir: Path, *, slack: FakeSlack, http_ports: Sequence[int]
) -> AsyncIterator[list[Process]]:
    """Start one ``python -m bot run`` per environment at the same moment (replicas racing
    through start-up), wait until each serves Slack on its HTTP port; SIGTERM them afterwards."""
    async with contextlib.AsyncExitStack() as stack:
        running = [await stack.enter_async_context(spawned_run(env, workdir)) for env in envs]
        await asyncio.gather(
            *(_wait_ready(one, slack, port) for one, port in zip(running, http_ports, strict=True))
        )
        yield running
