"""The fake LLM server (``tests.fakes.llm_server``) in a child process, driven over a pipe.

Running the fake in its own process keeps its CPU time (it costs about as much as the bot per
delta) off the bot's event loop and out of the bot's ``time.process_time()`` and memory, as a
real model server would be. ``time.perf_counter()`` is ``CLOCK_MONOTONIC`` on Linux, one clock
for the whole machine, so receive times taken in the child compare with send times taken here.

Child: ``python -m benchmarks.llm_proc --chunk-chars 4 --chunk-delay 0.05`` prints
``{"base_url": ...}`` and then answers one JSON command per stdin line:

- ``{"cmd": "stall", "count": N, "chars": C}``: the next N requests stream C characters of
  answer and then stall (until the client goes away);
- ``{"cmd": "stats"}``: ``{"received": [[tag, perf_counter], ...], "cpu": seconds}`` where tag
  is the number in the ``[bench:N]`` marker of the request's last user message;
- ``{"cmd": "quit"}`` (or end of input): stop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TAG = re.compile(r"\[bench:(\d+)\]")
STALL_SECONDS = 3600.0


def tag_text(tag: int, text: str) -> str:
    """A user message carrying ``tag`` so its completion request can be found again."""
    return f"[bench:{tag}] {text}"


@dataclass(frozen=True, slots=True)
class ServerStats:
    """What the child reports: receive time of each tagged request, and its CPU seconds."""

    received: dict[int, float]
    cpu: float


class LLMProcess:
    """Start the child, talk to it, stop it: ``async with LLMProcess(...) as llm``."""

    def __init__(self, *, chunk_chars: int = 4, chunk_delay: float = 0.0) -> None:
        self._args = ["--chunk-chars", str(chunk_chars), "--chunk-delay", repr(chunk_delay)]
        self._proc: asyncio.subprocess.Process | None = None
        self.base_url = ""

    async def __aenter__(self) -> LLMProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.llm_proc",
            *self._args,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        hello = await self._read()
        self.base_url = str(hello["base_url"])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            await self._send({"cmd": "quit"})
            await asyncio.wait_for(proc.wait(), 10)
        except (TimeoutError, OSError):
            proc.kill()
            await proc.wait()

    async def stall(self, count: int, chars: int) -> None:
        """Make the next ``count`` answers stall after ``chars`` characters."""
        await self._send({"cmd": "stall", "count": count, "chars": chars})
        await self._read()

    async def stats(self) -> ServerStats:
        await self._send({"cmd": "stats"})
        data = await self._read()
        return ServerStats({int(t): float(at) for t, at in data["received"]}, float(data["cpu"]))

    async def _send(self, command: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self._proc.stdin.drain()

    async def _read(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), 60)
        if not line:
            raise RuntimeError("the fake LLM server process ended unexpectedly")
        data: dict[str, Any] = json.loads(line)
        return data


# -- the child ------------------------------------------------------------------------------


def _stall_script(chars: int, chunk_chars: int) -> Any:
    from tests.fakes.llm_server import Pause, answer

    words = ("streaming answers grow steadily while the model keeps writing text " * 64)[:chars]
    script = answer(words, chunk_chars=chunk_chars, finish_reason=None, usage=False, done=False)
    script.steps.append(Pause(STALL_SECONDS))
    return script


def _received(server: Any) -> list[tuple[int, float]]:
    out = []
    for request in server.requests:
        body = request.body if isinstance(request.body, dict) else {}
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        found = TAG.search(str(users[-1].get("content", ""))) if users else None
        if found:
            out.append((int(found.group(1)), request.received_at))
    return out


def _answer(server: Any, command: dict[str, Any], chunk_chars: int) -> dict[str, Any]:
    if command.get("cmd") == "stall":
        script = _stall_script(int(command["chars"]), chunk_chars)
        server.enqueue(*[script] * int(command["count"]))
        return {"ok": True}
    if command.get("cmd") == "stats":
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"received": _received(server), "cpu": usage.ru_utime + usage.ru_stime}
    return {"error": f"unknown command {command!r}"}


async def _serve(chunk_chars: int, chunk_delay: float) -> None:
    from tests.fakes.llm_server import FakeLLMServer

    async with FakeLLMServer(chunk_chars=chunk_chars, chunk_delay=chunk_delay) as server:
        print(json.dumps({"base_url": server.base_url}), flush=True)
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            command = json.loads(line) if line.strip() else {"cmd": "quit"}
            if command.get("cmd") == "quit":
                return
            print(json.dumps(_answer(server, command, chunk_chars)), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The fake LLM server, driven over stdin.")
    parser.add_argument("--chunk-chars", type=int, default=4)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.chunk_chars, args.chunk_delay))


if __name__ == "__main__":
    main()
