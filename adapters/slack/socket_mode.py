"""Socket Mode: Slack pushes events over a websocket, so no public URL is needed.

The websocket URL comes from ``apps.connections.open`` (called with ``SLACK_APP_TOKEN`` on the
same ``SLACK_API_URL`` base as every other call). The first URL is fetched here so a bad token
fails at start with a clear message instead of retrying forever; slack-sdk reconnects after
that (ping/pong, ``disconnect`` messages, rotated URLs). Bolt copies an envelope's
``retry_attempt`` into ``X-Slack-Retry-Num`` like HTTP retries.
"""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.api import TRANSPORT_ERRORS, error_code
from bot.errors import ConfigError

logger = logging.getLogger(__name__)

REJECTED_TOKEN = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "not_allowed_token_type"}
)


class SocketTransport:
    """Keeps a Socket Mode connection open until closed."""

    def __init__(self, app: AsyncApp, app_token: str, client: AsyncWebClient) -> None:
        self._app = app
        self._app_token = app_token
        self._client = client
        self._handler: AsyncSocketModeHandler | None = None

    async def start(self) -> None:
        handler = AsyncSocketModeHandler(self._app, self._app_token, web_client=self._client)
        self._handler = handler
        try:
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
            await handler.connect_async()  # type: ignore[no-untyped-call]
        except (SlackApiError, *TRANSPORT_ERRORS) as exc:
            await self.close()
            raise _start_error(exc) from None
        logger.info("Slack Socket Mode connected")

    def connected(self) -> bool:
        """Whether the websocket is open now; False from a drop until slack-sdk's reconnection
        (it keeps the closed session until a new one is open)."""
        if self._handler is None:
            return False
        client = self._handler.client
        session = client.current_session
        return not (client.closed or client.stale or session is None or session.closed)

    async def close(self) -> None:
        if self._handler is not None:
            handler, self._handler = self._handler, None
            await handler.close_async()  # type: ignore[no-untyped-call]


def _start_error(exc: BaseException) -> ConfigError:
    code = error_code(exc)
    if code in REJECTED_TOKEN:
        return ConfigError(
            f"SLACK_APP_TOKEN was rejected by Slack ({code}): use the app-level token "
            "(xapp-…) with the connections:write scope, and enable Socket Mode for the app."
        )
    return ConfigError(f"Cannot open a Slack Socket Mode connection ({code}); check SLACK_API_URL.")
