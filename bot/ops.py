"""The operations endpoint on ``METRICS_PORT``: ``/healthz``, ``/readyz`` and ``/metrics``.

Served by ``aiohttp.web``, not by hand on raw asyncio streams: aiohttp is a well-kept asyncio
HTTP server (request parsing, keep-alive, timeouts, HEAD and 405 answers are its own), it is
what the Slack adapter's HTTP mode already runs on, and prometheus-client ships a handler for
it; so it is a core dependency.

- ``GET /healthz`` (liveness): 200 while the process serves. It touches nothing else, the
  database included, so an orchestrator never restarts a live process because the database is
  slow.
- ``GET /readyz`` (readiness): 200 ``{"ready": true}`` only when the database answers and takes
  writes (``ConversationEngine.healthy``), every configured platform is connected now, and the
  process is not shutting down; otherwise 503 with ``{"ready": false, "not_ready": [...]}``
  naming what is not ready (``"shutting down"``, ``"slack"``, ``"database"``).
- ``GET /metrics``: the Prometheus exposition of the process's registry (``bot.metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

logger = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[bool]]
DATABASE_TIMEOUT = 5.0
SHUTTING_DOWN = "shutting down"
DATABASE = "database"


@dataclass(frozen=True, slots=True)
class Readiness:
    """What ``/readyz`` checks: the database probe, each platform's ``connected()`` by name,
    and whether the process is shutting down."""

    database: Probe
    platforms: Mapping[str, Callable[[], bool]] = field(default_factory=dict)
    stopping: Callable[[], bool] | None = None

    async def not_ready(self) -> list[str]:
        """What is not ready, in that order; empty when ready. While shutting down the
        database is not asked (a closing engine reports itself unhealthy anyway)."""
        if self.stopping is not None and self.stopping():
            return [SHUTTING_DOWN]
        missing = [name for name, connected in self.platforms.items() if not connected()]
        if not await self._database_ok():
            missing.append(DATABASE)
        return missing

    async def _database_ok(self) -> bool:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT):
                return await self.database()
        except TimeoutError:
            return False


def build_app(registry: CollectorRegistry, readiness: Readiness) -> web.Application:
    """The ops application: three GET routes (aiohttp answers HEAD, 404 and 405 itself)."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        missing = await readiness.not_ready()
        if missing:
            return web.json_response({"ready": False, "not_ready": missing}, status=503)
        return web.json_response({"ready": True})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", make_aiohttp_handler(registry))
    return app


@contextlib.asynccontextmanager
async def serve_ops(
    host: str, port: int, registry: CollectorRegistry, readiness: Readiness
) -> AsyncIterator[int]:
    """Serve the endpoint while the block runs; yields the bound port (``port=0`` picks one)."""
    runner = web.AppRunner(build_app(registry, readiness), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = int(runner.addresses[0][1])
        logger.info("health, readiness and metrics on http://%s:%d/readyz", host, bound)
        yield bound
    finally:
        await runner.cleanup()
