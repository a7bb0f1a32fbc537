"""How discord.py failures map onto the core's sink errors.

discord.RateLimited (wait > max_ratelimit_timeout)   → SinkRateLimited(retry_after)
HTTPException 429 (retries exhausted / no Via)        → SinkRateLimited(Retry-After)
10003 / 10008 / 10015 / 10062 / 50027 / 30046 / 50083 → SinkMessageGone
anything else (50035 too long, 50013, 5xx, network)   → SinkError
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

import aiohttp
import discord

from bot.errors import SinkError, SinkMessageGone, SinkRateLimited

T = TypeVar("T")

UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
INVALID_WEBHOOK_TOKEN = 50027
OLD_MESSAGE_EDITS = 30046
THREAD_ARCHIVED = 50083
INVALID_FORM_BODY = 50035
GONE_CODES = frozenset(
    {
        UNKNOWN_CHANNEL,
        UNKNOWN_MESSAGE,
        UNKNOWN_WEBHOOK,
        UNKNOWN_INTERACTION,
        INVALID_WEBHOOK_TOKEN,
        OLD_MESSAGE_EDITS,
        THREAD_ARCHIVED,
    }
)
DEFAULT_RETRY_AFTER = 1.0
TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError)


def to_sink_error(exc: Exception, what: str) -> SinkError:
    """The core's view of a failed Discord call ``what`` (e.g. "edit 123")."""
    if isinstance(exc, discord.RateLimited):
        return SinkRateLimited(exc.retry_after, f"{what}: rate limited", code="429")
    if isinstance(exc, discord.HTTPException):
        detail = f"{what}: Discord {exc.status} (code {exc.code}) {exc.text[:200]}"
        code = str(exc.code or "")
        if exc.status == 429:
            return SinkRateLimited(retry_after(exc), detail, code=code)
        if exc.code in GONE_CODES:
            return SinkMessageGone(detail, code=code)
        return SinkError(detail, code=code)
    return SinkError(f"{what}: {type(exc).__name__}: {exc}")


def retry_after(exc: discord.HTTPException) -> float:
    """Seconds to wait from a 429's ``Retry-After`` header (1 s if absent or unreadable)."""
    header = exc.response.headers.get("Retry-After") if exc.response is not None else None
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, float(header or ""))
    return DEFAULT_RETRY_AFTER


async def call(what: str, request: Awaitable[T]) -> T:
    """Await a discord.py request, raising the matching ``SinkError`` on failure."""
    try:
        return await request
    except (discord.DiscordException, *TRANSPORT_ERRORS) as exc:
        raise to_sink_error(exc, what) from exc


def error_code(exc: BaseException) -> int:
    """The Discord JSON error code a sink error carries (0 when there is none)."""
    code = getattr(exc, "code", "")
    return int(code) if isinstance(code, str) and code.isdigit() else 0
