"""HTTP mode: the Events API and interactivity endpoint, plus a health check.

``POST /slack/events`` takes events, slash commands and button clicks (one Request URL for all
three in the app config); Bolt verifies ``X-Slack-Signature`` with ``SLACK_SIGNING_SECRET`` and
rejects stale timestamps (more than 5 minutes off) before anything runs. ``GET /healthz``
answers ``ok`` for load balancers. Several replicas may share one URL behind a load balancer:
deduplication and per-conversation ordering live in the shared database.
"""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from adapters.slack.manifest import EVENTS_PATH

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"


class HttpTransport:
    """Serves a Bolt app on ``host:port`` until closed."""

    def __init__(self, app: AsyncApp, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self._events)
        web_app.router.add_get(HEALTH_PATH, _health)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(f"cannot listen on {self._host}:{self._port} ({exc.strerror})") from exc
        self._runner = runner
        self.port = _bound_port(runner, self._port)
        logger.info("Slack HTTP mode: events at http://%s:%d%s", self._host, self.port, EVENTS_PATH)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _events(self, request: web.Request) -> web.Response:
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, UnicodeDecodeError) as exc:
            logger.warning("rejected a malformed request to %s: %s", EVENTS_PATH, exc)
            return web.json_response({"error": "malformed request body"}, status=400)
        bolt_response = await self._app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _bound_port(runner: web.AppRunner, wanted: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return wanted
