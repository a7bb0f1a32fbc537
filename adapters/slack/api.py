"""The Web API client and how its failures map onto the core's sink errors.

One ``AsyncWebClient`` per process, on one aiohttp session, with ``SLACK_API_URL`` as its base
so every call (``auth.test`` and ``apps.connections.open`` included) goes there. It has **no**
retry handlers: slack-sdk would sleep inside the call on a 429, which must never happen on the
streaming path; callers see ``SinkRateLimited(retry_after)`` instead and the scheduler waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from yarl import URL

from bot.errors import SinkError, SinkMessageGone, SinkRateLimited

logger = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = 1.0
GONE_ERRORS = frozenset(
    {
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "is_archived",
        "channel_not_found",
        "not_in_channel",
        "thread_not_found",
    }
)
STREAM_EXPIRED = "message_not_in_streaming_state"
NATIVE_UNAVAILABLE = frozenset(
    {
        "unknown_method",
        "not_allowed",
        "not_allowed_token_type",
        "method_deprecated",
        "channel_type_not_supported",
        "feature_not_enabled",
        "team_not_enabled",
        "not_supported",
        "missing_scope",
    }
)
CHUNK_REJECTED = frozenset({"invalid_chunks", "invalid_blocks", "invalid_arguments"})
TRANSPORT_ERRORS = (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, ValueError)


def build_client(
    session: aiohttp.ClientSession, base_url: str, token: str | None, timeout: int
) -> AsyncWebClient:
    """A Web API client without sleeping retry handlers."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        session=session,
        retry_handlers=[],
        logger=logging.getLogger("slack_sdk.web"),
    )


def error_code(exc: BaseException) -> str:
    """Slack's ``error`` string (``"ratelimited"``, …) or a transport description."""
    if isinstance(exc, SlackApiError):
        response: Any = exc.response
        code = response.get("error") if hasattr(response, "get") else None
        if response.status_code == 429:
            return "ratelimited"
        return str(code or f"http_{response.status_code}")
    return type(exc).__name__


def retry_after(exc: SlackApiError) -> float:
    """Seconds from the ``Retry-After`` header, or a short default."""
    headers = exc.response.headers or {}
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    try:
        return max(0.0, float(raw)) if raw is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER


def to_sink_error(exc: BaseException, method: str) -> SinkError:
    """Translate a failed call into the core's vocabulary (never retried here)."""
    code = error_code(exc)
    if isinstance(exc, SlackApiError) and code == "ratelimited":
        return SinkRateLimited(retry_after(exc), f"{method}: ratelimited", code=code)
    if code in GONE_ERRORS or code == STREAM_EXPIRED:
        return SinkMessageGone(f"{method}: {code}", code=code)
    return SinkError(f"{method}: {code}", code=code)


def method_name(verb: str, url: URL) -> str | None:
    """The Web API method a request calls (``chat.postMessage``: the last segment after
    ``/api/``), for the platform-call metrics; None for anything else on the session
    (``response_url`` posts, file downloads), whose paths carry ids and tokens."""
    parts = url.path.rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != "api" or "." not in parts[-1]:
        return None
    name = parts[-1]
    return name if all(piece.isalpha() for piece in name.split(".")) else None


async def call(method: str, request: Awaitable[AsyncSlackResponse]) -> dict[str, Any]:
    """Await one SDK call; failures become ``SinkError``s. Returns the response data."""
    try:
        response = await request
    except (SlackApiError, *TRANSPORT_ERRORS) as exc:
        raise to_sink_error(exc, method) from exc
    data = response.data
    return data if isinstance(data, dict) else {}


async def best_effort(method: str, request: Awaitable[AsyncSlackResponse]) -> bool:
    """A call whose failure only costs a nicety (status, title, prompts); logs and moves on."""
    try:
        await call(method, request)
    except SinkError as exc:
        logger.debug("%s failed (ignored): %s", method, exc)
        return False
    return True
