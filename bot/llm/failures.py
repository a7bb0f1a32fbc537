"""Map what the completions endpoint says went wrong onto the typed ``LLMError`` tree.

Two sources: an HTTP error response (status, headers, body) before the stream starts, and an
``error`` object sent as a chunk in the middle of a stream. Both are classified the same way:

=========================================  ==================================================
401, 403, ``invalid_api_key``              ``LLMAuthError``
429, ``rate_limit``                        ``LLMRateLimited`` (``retry_after`` from headers)
429 with ``insufficient_quota``            ``LLMRateLimited``, not retryable
408                                        ``LLMTimeout``
409, 5xx, other mid-stream errors          ``LLMUnavailable``
4xx mentioning the context length          ``LLMContextTooLong``
4xx about the model (``model_not_found``)  ``LLMBadRequest`` whose user message names the model
404 otherwise                              ``LLMBadRequest`` pointing at ``LLM_BASE_URL``
other 4xx                                  ``LLMBadRequest``
anything else (1xx, 3xx)                   ``LLMProtocolError``
=========================================  ==================================================

``str(err)`` carries the status and the server's own message, whitespace-collapsed, truncated
and with anything that looks like an API key masked, for logs. Users see ``user_message``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from bot.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMContextTooLong,
    LLMEmptyAnswer,
    LLMError,
    LLMProtocolError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
)

MAX_DETAIL = 300

_CONTEXT = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|too many tokens|prompt is too long|"
    r"input is too long|reduce the length|tokens? exceed|exceeds? the (maximum|max)",
    re.IGNORECASE,
)
_MODEL = re.compile(
    r"model_not_found|no such model|(unknown|invalid|unsupported) model|"
    r"model\b.{0,80}?(not found|does not exist|not exist|is not supported|not available|invalid)",
    re.IGNORECASE,
)
_QUOTA = re.compile(r"insufficient_quota|quota|insufficient (balance|credit)", re.IGNORECASE)
_KEYLIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*]{8,}|\bBearer\s+\S+", re.IGNORECASE)


def error_from_status(
    status: int, headers: Mapping[str, str], body: bytes, *, model: str, secret: str = ""
) -> LLMError:
    """The error for an HTTP error response from the completions endpoint."""
    payload = _json_or_none(body)
    message = summarize(payload if payload is not None else body, secret)
    detail = f"HTTP {status} from the completions endpoint: {message}"
    if status in (401, 403):
        return LLMAuthError(detail)
    if status == 429:
        return rate_limited(detail, message, parse_retry_after(headers))
    if status == 408:
        return LLMTimeout(detail)
    if status == 409 or status >= 500:
        return LLMUnavailable(detail, retry_after=parse_retry_after(headers))
    if 400 <= status < 500:
        return _bad_request(status, message, detail, model)
    return LLMProtocolError(f"unexpected HTTP {status} from the completions endpoint: {message}")


def error_from_payload(error: Any, *, model: str, secret: str = "") -> LLMError:
    """The error for an ``error`` object (or string) sent inside a stream or a JSON body."""
    message = summarize({"error": error}, secret)
    detail = f"the completions endpoint reported an error: {message}"
    code = _status_code(error)
    if code in (401, 403) or re.search(r"invalid_api_key|authentica|unauthori", message, re.I):
        return LLMAuthError(detail)
    if code == 429 or re.search(r"rate[ _-]?limit|too many requests", message, re.I):
        return rate_limited(detail, message, None)
    client_side = code is not None and 400 <= code < 500
    if client_side or _CONTEXT.search(message) or _MODEL.search(message):
        return _bad_request(code or 400, message, detail, model)
    if re.search(r"invalid_request", message, re.I):
        return LLMBadRequest(detail)
    return LLMUnavailable(detail)


def rate_limited(detail: str, message: str, retry_after: float | None) -> LLMRateLimited:
    """``LLMRateLimited``; out-of-quota answers are marked not retryable."""
    err = LLMRateLimited(detail, retry_after=retry_after)
    if _QUOTA.search(message):
        err.retryable = False
        err.user_message = (
            "The language model account is out of quota or credit; "
            "an administrator should check it."
        )
    elif retry_after is not None and retry_after > 90:
        minutes = max(2, round(retry_after / 60))
        err.user_message = (
            f"The language model is rate limiting Threadline; try again in about {minutes} minutes."
        )
    return err


def _bad_request(status: int, message: str, detail: str, model: str) -> LLMBadRequest:
    if _CONTEXT.search(message):
        return LLMContextTooLong(detail)
    if _MODEL.search(message) or (status == 404 and "model" in message.lower()):
        return LLMBadRequest(
            detail,
            user_message=(
                f"The model {model!r} is not available at this endpoint; "
                "choose another model in the settings."
            ),
        )
    if status == 404:
        return LLMBadRequest(
            detail,
            user_message=(
                "The completions endpoint was not found; "
                "an administrator should check LLM_BASE_URL (it usually ends in /v1)."
            ),
        )
    return LLMBadRequest(detail)


def looks_like_html(content_type: str, head: bytes) -> bool:
    """Whether a response is an HTML page (a proxy's login or error page, a wrong URL)."""
    if content_type.lower().startswith(("text/html", "application/xhtml")):
        return True
    start = head.lstrip()[:15].lower()
    return start.startswith((b"<!doctype html", b"<html"))


def html_instead(expected: str) -> LLMProtocolError:
    """The error for a 200 HTML page where ``expected`` (an event stream, JSON) was due."""
    return LLMProtocolError(
        f"the completions endpoint returned an HTML page, not {expected}",
        user_message=(
            f"The model endpoint returned an HTML page, not {expected} (a proxy or login "
            "page?); an administrator should check LLM_BASE_URL."
        ),
    )


def empty_answer(detail: str) -> LLMEmptyAnswer:
    """The error for a 200 answer without any choice (see ``LLMEmptyAnswer``)."""
    return LLMEmptyAnswer(detail)


def parse_retry_after(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` (seconds or an HTTP date)."""
    millis = _number(headers.get("retry-after-ms"))
    if millis is not None:
        return max(0.0, millis / 1000)
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def summarize(payload: Any, secret: str = "") -> str:
    """The server's message in one short line, without secrets."""
    text = _message_of(payload)
    text = " ".join(text.split())
    if secret:
        text = text.replace(secret, "***")
    text = _KEYLIKE.sub("***", text)
    if len(text) > MAX_DETAIL:
        text = text[: MAX_DETAIL - 1] + "…"
    return text or "(no message)"


def _message_of(payload: Any) -> str:
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "replace")
    if not isinstance(payload, dict):
        return str(payload)
    error = payload.get("error", payload)
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or error.get("msg") or ""
        tags = [str(error[k]) for k in ("type", "code") if error.get(k)]
        if message or tags:
            return f"{message} ({', '.join(tags)})" if tags else str(message)
        return json.dumps(error)[:MAX_DETAIL]
    return str(error) if error else json.dumps(payload)[:MAX_DETAIL]


def _status_code(error: Any) -> int | None:
    if not isinstance(error, dict):
        return None
    for key in ("status", "status_code", "code"):
        value = error.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
            return value
        if isinstance(value, str) and value.isdigit() and 100 <= int(value) < 600:
            return int(value)
    return None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number and number != float("inf") else None


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
