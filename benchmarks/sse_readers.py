"""CPU per delta of ways to read the completions SSE stream, side by side, per event loop.

Every reader streams the same answers from the fake model (``benchmarks.llm_proc``, another
process; 4-character deltas at a set rate, several streams at once) and hands each body chunk to
the same parsing (``sse.LineSplitter`` → ``sse.SSEDecoder`` → ``chunks.ChunkDecoder``), so
the figures differ only by the transport:

* ``client``: the bot's own ``ChatCompletionsClient.stream`` (httpx, with its deadlines);
* ``httpx``: ``httpx.AsyncClient.stream`` + ``aiter_bytes`` (httpcore, h11, anyio);
* ``httpx+aiohttp``: the same httpx API over ``httpx_aiohttp.AiohttpTransport``;
* ``aiohttp``: ``aiohttp.ClientSession.post`` + ``content.iter_any`` (C HTTP parser);
* ``protocol``: a bare ``asyncio.Protocol`` that parses the chunked body itself (the floor).

Each reader × loop (asyncio's default, uvloop) runs in a fresh child process
(``python -m benchmarks.sse_readers --reader R --loop L --base-url U``); only the streaming
phase is timed (``time.process_time``), after one warm-up stream opened the connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.llm_proc import LLMProcess
from benchmarks.report import Options, Row, count, make_row

NAME = "sse_readers"
GOAL_MICROSECONDS = 50.0
CHUNK_CHARS = 4
READERS = ("client", "httpx", "httpx+aiohttp", "aiohttp", "protocol")
LOOPS = ("asyncio", "uvloop")
ROOT = Path(__file__).resolve().parents[1]
RESULT_MARKER = "SSE-READER "


@dataclass(frozen=True, slots=True)
class Plan:
    streams: int
    answer_chars: int
    chunk_delay: float


FULL = Plan(streams=20, answer_chars=2_000, chunk_delay=0.005)
QUICK = Plan(streams=10, answer_chars=400, chunk_delay=0.002)


async def measure(options: Options) -> list[Row]:
    plan = QUICK if options.quick else FULL
    figures: dict[tuple[str, str], float] = {}
    deltas = 0
    async with LLMProcess(chunk_chars=CHUNK_CHARS, chunk_delay=plan.chunk_delay) as llm:
        for reader in READERS:
            for loop in LOOPS:
                result = await asyncio.to_thread(_run_child, reader, loop, llm.base_url, plan)
                figures[reader, loop] = result["cpu"] / max(1, result["deltas"]) * 1e6
                deltas = int(result["deltas"])
    return [_row(plan, figures, deltas)]


def _row(plan: Plan, figures: dict[tuple[str, str], float], deltas: int) -> Row:
    cells = "; ".join(
        f"{reader} {figures[reader, 'asyncio']:.0f} / {figures[reader, 'uvloop']:.0f}"
        for reader in READERS
    )
    best = min(figures, key=figures.__getitem__)
    conditions = (
        f"µs of CPU per delta, asyncio loop / uvloop: {cells}. Each: {plan.streams} streams at "
        f"once × {count(plan.answer_chars)} chars in {CHUNK_CHARS}-char deltas every "
        f"{plan.chunk_delay * 1000:g} ms ({count(deltas)} deltas), read and parsed "
        f"(LineSplitter, SSEDecoder, ChunkDecoder) in a fresh process; the bot's path is "
        f"'client' on the default loop"
    )
    shipped = figures["client", "asyncio"]
    measured = f"{shipped:.1f} µs/delta (bot client); best {best[0]}/{best[1]} {figures[best]:.1f}"
    return make_row(NAME, measured, shipped <= GOAL_MICROSECONDS, conditions)


def _run_child(reader: str, loop: str, base_url: str, plan: Plan) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.sse_readers",
        "--reader",
        reader,
        "--loop",
        loop,
        "--base-url",
        base_url,
        "--streams",
        str(plan.streams),
        "--chars",
        str(plan.answer_chars),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result: dict[str, float] = json.loads(line[len(RESULT_MARKER) :])
            return result
    raise RuntimeError(f"reader {reader}/{loop} failed: {done.stderr.strip()[-500:]}")


# -- the child: one reader on one loop ----------------------------------------------------

Read = Callable[[dict[str, Any]], Awaitable[int]]


def _body(chars: int, tag: int) -> dict[str, Any]:
    question = ("streaming answers grow steadily while the model keeps writing " * 64)[:chars]
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"[bench:{tag}] {question}"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


class _Parse:
    """The parsing every reader shares: bytes → lines → events → text deltas (counted)."""

    def __init__(self) -> None:
        from bot.llm.chunks import ChunkDecoder
        from bot.llm.sse import LineSplitter, SSEDecoder

        self._lines, self._sse, self._chunks = LineSplitter(), SSEDecoder(), ChunkDecoder()
        self.deltas = 0

    def feed(self, data: bytes) -> None:
        from bot.llm.base import TextDelta

        for line in self._lines.feed(data):
            event = self._sse.feed(line)
            if event is not None:
                for item in self._chunks.feed(event):
                    if type(item) is TextDelta:
                        self.deltas += 1


async def _with_httpx(base_url: str, transport: Any = None) -> tuple[Read, Callable[[], Any]]:
    import httpx

    client = httpx.AsyncClient(base_url=base_url + "/", timeout=None, transport=transport)

    async def read(body: dict[str, Any]) -> int:
        parse = _Parse()
        async with client.stream("POST", "chat/completions", json=body) as response:
            async for data in response.aiter_bytes():
                parse.feed(data)
        return parse.deltas

    return read, client.aclose


async def _with_client(base_url: str) -> tuple[Read, Callable[[], Any]]:
    from bot.llm.base import CompletionRequest, TextDelta
    from bot.llm.client import ChatCompletionsClient, LLMTimeouts, build_http_client
    from bot.params import GenerationParams

    http = build_http_client(base_url, 5.0)
    timeouts = LLMTimeouts(connect=5.0, first_token=60.0, idle=60.0)
    client = ChatCompletionsClient(http, api_key="bench", timeouts=timeouts, max_retries=0)

    async def read(body: dict[str, Any]) -> int:
        request = CompletionRequest(body["messages"], GenerationParams(model=body["model"]))
        return sum([type(e) is TextDelta async for e in client.stream(request)])

    return read, http.aclose


async def _with_httpx_aiohttp(base_url: str) -> tuple[Read, Callable[[], Any]]:
    from httpx_aiohttp import AiohttpTransport

    return await _with_httpx(base_url, AiohttpTransport())


async def _with_aiohttp(base_url: str) -> tuple[Read, Callable[[], Any]]:
    import aiohttp

    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def read(body: dict[str, Any]) -> int:
        parse = _Parse()
        async with session.post(base_url + "/chat/completions", json=body) as response:
            async for data in response.content.iter_any():
                parse.feed(data)
        return parse.deltas

    return read, session.close


class _ChunkedBody(asyncio.Protocol):
    """HTTP/1.1 response over a bare transport: skip the head, de-chunk the body."""

    def __init__(self) -> None:
        self._buffer = b""
        self._head_done = False
        self._ready: asyncio.Future[None] | None = None
        self.pieces: list[bytes] = []
        self.ended = False

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._head_done:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._buffer, self._head_done = self._buffer[end + 4 :], True
        self._dechunk()
        if self._ready is not None and not self._ready.done() and (self.pieces or self.ended):
            self._ready.set_result(None)

    def _dechunk(self) -> None:
        while True:
            line_end = self._buffer.find(b"\r\n")
            if line_end < 0:
                return
            size = int(self._buffer[:line_end], 16)
            if len(self._buffer) < line_end + 2 + size + 2:
                return
            if size == 0:
                self.ended = True
                return
            self.pieces.append(self._buffer[line_end + 2 : line_end + 2 + size])
            self._buffer = self._buffer[line_end + 2 + size + 2 :]

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    async def wait(self) -> None:
        self._ready = asyncio.get_running_loop().create_future()
        await self._ready


async def _with_protocol(base_url: str) -> tuple[Read, Callable[[], Any]]:
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80

    async def read(body: dict[str, Any]) -> int:
        payload = json.dumps(body).encode()
        head = (
            f"POST {url.path}/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Accept: text/event-stream\r\nConnection: close\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(_ChunkedBody, host, port)
        transport.write(head + payload)
        parse = _Parse()
        try:
            while True:
                if not protocol.pieces and not protocol.ended:
                    await protocol.wait()
                pieces, protocol.pieces = protocol.pieces, []
                for piece in pieces:
                    parse.feed(piece)
                if protocol.ended and not protocol.pieces:
                    return parse.deltas
        finally:
            transport.close()

    async def close() -> None:
        return None

    return read, close


OPENERS: dict[str, Callable[[str], Coroutine[Any, Any, tuple[Read, Callable[[], Any]]]]] = {
    "client": _with_client,
    "httpx": _with_httpx,
    "httpx+aiohttp": _with_httpx_aiohttp,
    "aiohttp": _with_aiohttp,
    "protocol": _with_protocol,
}


async def _child(reader: str, base_url: str, streams: int, chars: int) -> dict[str, float]:
    read, close = await OPENERS[reader](base_url)
    try:
        await asyncio.gather(*(read(_body(40, -1 - i)) for i in range(streams)))  # warm-up
        cpu, wall = time.process_time(), time.perf_counter()
        counts = await asyncio.gather(*(read(_body(chars, i)) for i in range(streams)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await close()
    return {"cpu": cpu, "wall": wall, "deltas": float(sum(counts))}


def _loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One SSE reader on one event loop.")
    parser.add_argument("--reader", choices=READERS, required=True)
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--chars", type=int, default=2_000)
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=_loop_factory(args.loop)) as runner:
        result = runner.run(_child(args.reader, args.base_url, args.streams, args.chars))
    print(RESULT_MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
