"""Durable answers in ``threadline console``, end to end (a real process on a pipe): a database
that goes away mid-session, and a console killed while an answer streams."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeLLMServer, Pause, chunk, events
from tests.fakes.outage import cut, restore, sqlite_rows
from tests.fakes.process import OWN_VARIABLES, REPO
from tests.store.conftest import pg_database

WAIT = 30.0


@dataclass
class Console:
    """A running ``threadline console`` on pipes."""

    proc: asyncio.subprocess.Process
    out: str = ""

    async def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())
        await self.proc.stdin.drain()

    async def shown(self, text: str) -> None:
        """Read stdout until ``text`` has been printed (answers stream without newlines)."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(WAIT):
            while text not in self.out:
                data = await self.proc.stdout.read(1024)
                assert data, f"console ended before printing {text!r}: {self.out!r}"
                self.out += data.decode()

    async def end(self) -> tuple[int, str, str]:
        """Close stdin, wait for the exit; (status, rest of stdout, stderr)."""
        out, err = await asyncio.wait_for(self.proc.communicate(b""), WAIT)
        assert self.proc.returncode is not None
        return self.proc.returncode, out.decode(), err.decode()


def _env(llm: FakeLLMServer, home: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "xdg"),
        PYTHONPATH=str(REPO),
        LLM_BASE_URL=llm.base_url,
        LLM_API_KEY="test-key",
        DATABASE_URL=database_url,
        **extra,
    )
    return env


@contextlib.asynccontextmanager
async def console(env: dict[str, str], cwd: Path) -> AsyncIterator[Console]:
    """``threadline console --channel durable`` on pipes; killed if still running at the end."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "console",
        "--channel",
        "durable",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    try:
        yield Console(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def piped(env: dict[str, str], cwd: Path, stdin: str) -> tuple[int, str, str]:
    async with console(env, cwd) as running:
        assert running.proc.stdin is not None
        running.proc.stdin.write(stdin.encode())
        return await running.end()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_database() as url:
        yield url


async def test_unsaved_message_is_one_line_and_exit_1(
    tmp_path: Path, llm: FakeLLMServer, pg_url: str
) -> None:
    async with console(_env(llm, tmp_path, pg_url), tmp_path) as running:
        await running.say("/help")
        await running.shown("settings")  # started, migrated, reading input
        await cut(pg_url)
        try:
            await running.say("hello")
            code, out, err = await running.end()
        finally:
            await restore(pg_url)
    assert code == 1, err
    assert "You said" not in running.out + out
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and "could not be saved" in lines[0], err
    assert llm.requests == []


async def _wait_for(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def _answers(db: Path) -> list[tuple[str, str]]:
    return [
        (str(status), str(content))
        for status, content in sqlite_rows(
            db, "SELECT status, content FROM messages WHERE role = 'assistant' ORDER BY id"
        )
    ]


@pytest.mark.parametrize(
    ("stdin", "answers"),
    [
        ("next\n", [("complete", "You said: next")]),
        ("", []),  # a run that exits at once closes it too
    ],
)
async def test_answer_of_a_killed_console_is_closed_by_the_next_run(
    tmp_path: Path, llm: FakeLLMServer, stdin: str, answers: list[tuple[str, str]]
) -> None:
    db = tmp_path / "threadline.db"
    env = _env(llm, tmp_path, f"sqlite+aiosqlite:///{db}", ANSWER_LEASE_SECONDS="3")
    llm.enqueue(events(chunk("", role="assistant"), chunk("Once upon a time"), Pause(120.0)))
    async with console(env, tmp_path) as running:
        await running.say("tell me a long story")
        await running.shown("Once upon a time")
        await _wait_for(lambda: _answers(db) == [("streaming", "Once upon a time")])  # checkpoint
        running.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(running.proc.wait(), WAIT)
    assert sqlite_rows(db, "SELECT count(*) FROM answer_jobs") == [(1,)]

    code, out, err = await piped(env, tmp_path, stdin)
    assert (code, out) == (0, "".join(f"{text}\n" for _, text in answers)), err
    assert _answers(db) == [("failed", "Once upon a time"), *answers]
    assert sqlite_rows(db, "SELECT count(*) FROM answer_jobs") == [(0,)]
    assert len(llm.requests) == 1 + len(answers)  # closed, not asked for again
