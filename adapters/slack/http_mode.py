"""HTTP mode: the Events API and interactivity endpoint, plus a health check.

``POST /slack/events`` takes events, slash commands and button clicks (one Request URL for all
three in the app config). Each request passes three gates before Bolt sees it:

1. size: aiohttp refuses bodies over 1 MiB (413);
2. signature: ``RequestGate`` checks ``X-Slack-Signature`` and a timestamp at most 5 minutes off
   on the raw bytes (401; 400 when the body is not UTF-8), before anything parses the body;
3. shape: the signed body must parse into a JSON object the way Bolt reads it (400).

Refusals never reach a parser or a listener and answer with ``X-Slack-No-Retry: 1``; each is
logged as one WARNING line, rate-limited per kind. What fails inside Bolt is answered by the
app's error handler (``adapters.slack.failures``): 503 only when Slack should retry.

Installed through OAuth (``SLACK_CLIENT_ID``), it also serves Bolt's install flow:
``GET /slack/install`` (the "Add to Slack" page; the state is kept in the database and in a
cookie) and ``GET /slack/oauth_redirect`` (where Slack sends the browser back with a ``code``).
These are browser pages, not signed by Slack: Bolt checks the state instead.

``GET /healthz`` answers 200 ``{"status": "ok"}`` while the database answers, else 503
``{"status": "database unavailable"}``. Several replicas may share one URL behind a load
balancer: deduplication and per-conversation ordering live in the shared database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.request.async_request import AsyncBoltRequest

from adapters.slack.failures import NO_RETRY, outcome_of
from adapters.slack.lograte import RateLimitedLog
from adapters.slack.manifest import EVENTS_PATH, INSTALL_PATH, REDIRECT_PATH
from adapters.slack.verify import Refusal, RequestGate

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
HEALTH_TIMEOUT = 5.0
MAX_BODY_BYTES = 1024**2

Health = Callable[[], Awaitable[bool]]


class HttpTransport:
    """Serves a Bolt app on ``host:port`` until closed."""

    def __init__(
        self,
        app: AsyncApp,
        host: str,
        port: int,
        *,
        signing_secret: str,
        health: Health,
        oauth: AsyncOAuthFlow | None = None,
    ) -> None:
        self._app = app
        self._oauth = oauth
        self._host = host
        self._port = port
        self._gate = RequestGate(signing_secret)
        self._health = health
        self._refusals = RateLimitedLog(logger)
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        web_app = web.Application(client_max_size=MAX_BODY_BYTES)
        web_app.router.add_post(EVENTS_PATH, self._events)
        web_app.router.add_get(HEALTH_PATH, self._healthz)
        if self._oauth is not None:
            web_app.router.add_get(INSTALL_PATH, self._install)
            web_app.router.add_get(REDIRECT_PATH, self._oauth_redirect)
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
        if self._oauth is not None:
            where = f"http://{self._host}:{self.port}{INSTALL_PATH}"
            logger.info("Slack: installs into workspaces at %s", where)

    def connected(self) -> bool:
        """Whether the server is up (Slack can deliver events)."""
        return self._runner is not None

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _events(self, request: web.Request) -> web.Response:
        admitted = await self._admit(request)
        if isinstance(admitted, Refusal):
            return self._refuse(request, admitted)
        return await self._dispatch(admitted)

    def _refuse(self, request: web.Request, refusal: Refusal) -> web.Response:
        peer = request.remote or "an unknown address"
        line = f"refused a request from {peer} to {EVENTS_PATH}: {refusal.reason}"
        self._refusals.warning(refusal.kind, line)
        return web.json_response({"error": refusal.reason}, status=refusal.status, headers=NO_RETRY)

    async def _dispatch(self, request: AsyncBoltRequest) -> web.Response:
        try:
            bolt_response = await self._app.async_dispatch(request)
        except Exception as exc:  # Bolt's error handler missed it: still one line, no traceback
            outcome = outcome_of(exc, request.body)
            self._refusals.log(
                outcome.level, outcome.kind, f"{outcome.message}; answered {outcome.status}"
            )
            return await to_aiohttp_response(outcome.response())
        return await to_aiohttp_response(bolt_response)

    async def _admit(self, request: web.Request) -> AsyncBoltRequest | Refusal:
        """The request as Bolt's, if it is signed and well formed."""
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return Refusal(413, "too-large", f"the body is over {MAX_BODY_BYTES} bytes")
        text = self._gate.check(raw, request.headers)
        if isinstance(text, Refusal):
            return text
        return _parsed(text, request)

    async def _install(self, request: web.Request) -> web.Response:
        assert self._oauth is not None
        return await to_aiohttp_response(await self._oauth.handle_installation(_page(request)))

    async def _oauth_redirect(self, request: web.Request) -> web.Response:
        assert self._oauth is not None
        return await to_aiohttp_response(await self._oauth.handle_callback(_page(request)))

    async def _healthz(self, request: web.Request) -> web.Response:
        if await self._database_answers():
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "database unavailable"}, status=503)

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                return await self._health()
        except Exception as exc:  # any failure of the probe means "unhealthy", said once
            logger.debug("health probe failed: %s: %s", type(exc).__name__, exc)
            return False


def _page(request: web.Request) -> AsyncBoltRequest:
    """A browser's GET as Bolt's request (its query string and its cookies matter)."""
    return AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))


def _parsed(text: str, request: web.Request) -> AsyncBoltRequest | Refusal:
    """Bolt's request for a signed body, or a refusal when Bolt could not read it."""
    try:
        bolt_request = AsyncBoltRequest(
            body=text,
            query=request.query_string,
            headers=dict(request.headers),
        )
    except Exception as exc:  # any parse failure of a signed body: JSON, form, nesting depth
        return Refusal(
            400, "malformed", f"the signed body is not a Slack payload ({type(exc).__name__})"
        )
    problem = _shape_problem(bolt_request.body)
    if problem:
        return Refusal(400, "malformed", f"the signed body is not a Slack payload ({problem})")
    return bolt_request


def _shape_problem(body: Any) -> str:
    """What Bolt's middleware would trip over in a parsed body ("" when nothing)."""
    if not isinstance(body, Mapping):
        return f"a JSON {type(body).__name__}, not an object"
    if "event" in body and not isinstance(body["event"], Mapping):
        return '"event" is not an object'
    return ""


def _bound_port(runner: web.AppRunner, wanted: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return wanted
