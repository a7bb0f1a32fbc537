"""A tiny operations endpoint: ``GET /healthz`` and Prometheus ``GET /metrics``.

Served with asyncio's own streams (no web framework in the core) on ``METRICS_PORT`` when it
is set. ``/healthz`` answers 200 while the process serves and the database answers, 503
otherwise; ``/metrics`` is the Prometheus text format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

logger = logging.getLogger(__name__)

Stats = Callable[[], dict[str, float]]
Probe = Callable[[], Awaitable[bool]]
READ_TIMEOUT = 5.0


def render_metrics(stats: dict[str, float]) -> str:
    """Prometheus exposition text; ``*_total`` names are counters, the rest gauges."""
    lines = []
    for name, value in sorted(stats.items()):
        kind = "counter" if name.endswith("_total") else "gauge"
        lines += [f"# TYPE threadline_{name} {kind}", f"threadline_{name} {value:g}"]
    return "\n".join(lines) + "\n"


def _response(status: str, body: str, content_type: str = "text/plain") -> bytes:
    data = body.encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}; charset=utf-8\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + data


async def _route(path: str, stats: Stats, probe: Probe) -> bytes:
    if path == "/metrics":
        return _response("200 OK", render_metrics(stats()), "text/plain; version=0.0.4")
    if path == "/healthz":
        healthy = await probe()
        return _response(
            "200 OK" if healthy else "503 Service Unavailable", "ok\n" if healthy else "unhealthy\n"
        )
    return _response("404 Not Found", "not found\n")


def _handler(
    stats: Stats, probe: Probe
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                request = await reader.readuntil(b"\r\n\r\n")
            method, path, *_ = [*request.decode("latin-1").split(" ", 2), "", ""]
            if method not in {"GET", "HEAD"}:
                writer.write(_response("405 Method Not Allowed", "GET only\n"))
            else:
                writer.write(await _route(path.split("?", 1)[0], stats, probe))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()

    return handle


@contextlib.asynccontextmanager
async def serve_ops(host: str, port: int, stats: Stats, probe: Probe) -> AsyncIterator[int]:
    """Serve the endpoint while the block runs; yields the bound port (``port=0`` picks one)."""
    server = await asyncio.start_server(_handler(stats, probe), host, port)
    bound = server.sockets[0].getsockname()[1]
    logger.info("health and metrics on http://%s:%d/healthz and /metrics", host, bound)
    try:
        yield bound
    finally:
        server.close()
        await server.wait_closed()
