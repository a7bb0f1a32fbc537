"""``threadline run`` as a real subprocess (``python -m bot run``), for end-to-end tests.

The child gets the test's environment minus every variable Threadline reads (so a developer's
own tokens never leak in), plus ``env``; its output goes to a log file in ``workdir``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OWN_VARIABLES = ("SLACK_", "LLM_", "DISCORD", "THREADLINE_", "DATABASE_URL", "HTTP_", "METRICS_")
STOP_SECONDS = 20.0


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextlib.asynccontextmanager
async def spawned_run(env: dict[str, str], workdir: Path) -> AsyncIterator[Process]:
    """Start ``python -m bot run``; SIGTERM it (then kill) when the block ends."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    full.update(env)
    full["PYTHONPATH"] = str(REPO)
    log = workdir / f"threadline-{len(list(workdir.glob('threadline-*.log')))}.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=workdir, env=full, stdout=sink, stderr=sink
        )
    try:
        yield Process(proc, log)
    finally:
        await _terminate(proc)


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
