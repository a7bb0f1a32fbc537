"""Slack's notices about the app itself: ``app_rate_limited``, answered before any listener.

When a workspace sends the app more than 30,000 events an hour, Slack stops delivering that
minute's events and posts ``{"type": "app_rate_limited", "team_id", "minute_rate_limited",
"api_app_id", "token"}`` to the Request URL. It is not an ``event_callback``, so no listener
matches it; it gets 200 here (a non-200 would count as a failed delivery towards Slack
disabling the subscription) and one WARNING, at most once a minute per process.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from adapters.slack.lograte import RateLimitedLog, one_line

logger = logging.getLogger(__name__)

APP_RATE_LIMITED = "app_rate_limited"

Next = Callable[[], Awaitable[None]]


def install_notices(app: AsyncApp, log: RateLimitedLog | None = None) -> None:
    """Answer ``app_rate_limited`` in ``app`` with 200 and a rate-limited WARNING."""
    lines = log or RateLimitedLog(logger)

    async def app_rate_limited(body: dict[str, Any], next: Next) -> BoltResponse | None:
        if not isinstance(body, dict) or body.get("type") != APP_RATE_LIMITED:
            await next()
            return None
        lines.warning(APP_RATE_LIMITED, rate_limited_line(body))
        return BoltResponse(status=200, body="")

    app.middleware(app_rate_limited)


def rate_limited_line(body: dict[str, Any]) -> str:
    """The WARNING for one ``app_rate_limited`` notice."""
    team = one_line(body.get("team_id") or "?", 40)
    return (
        f"Slack: workspace {team} is over its Events API limit (30,000 events an hour); "
        f"events from {_minute(body.get('minute_rate_limited'))} on were not delivered"
    )


def _minute(value: object) -> str:
    if isinstance(value, int) and 0 <= value < 2**40:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "an unknown minute"
