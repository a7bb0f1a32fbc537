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
4xx naming a settable parameter            ``LLMBadRequest`` whose user message names it
4xx about the model (``model_not_found``)  ``LLMBadRequest`` whose user message names the model
404 otherwise                              ``LLMBadRequest`` pointing at ``LLM_BASE_URL``
other 4xx                                  ``LLMBadRequest``
500 "Unsupported param: x" (llama.cpp)     ``LLMBadRequest`` (older llama.cpp sends 500)
anything else (1xx, 3xx)                   ``LLMProtocolError``
=========================================  ==================================================

Every ``LLMBadRequest`` carries ``param``: the top-level request field the error names
(``named_param``), or ``None``. It is read from the error's ``param`` field (OpenAI), a pydantic
``loc`` of ``("body", name)`` (vLLM, Mistral), or the message's wording: OpenAI's
"Unsupported parameter: 'x'", Azure's "Unrecognized request argument supplied: x", llama.cpp's
"Unsupported param: x" and "Only one completion choice is allowed" (``n``), Google's
"Unknown name \"x\"", "Extra inputs are not permitted, field: 'x'" and "'x' is not supported".
Only names of chat-completions request fields (``REQUEST_FIELDS``) count, so ordinary words in
a message are not taken for parameters.

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
from bot.params import SPECS

MAX_DETAIL = 300
MAX_NODES = 500

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
_NAME = r"([A-Za-z_][A-Za-z0-9_]*)"
_Q = r"[\\]?['\"`]"  # a quote, maybe escaped
_UNSUPPORTED = r"(?:is|are)\s+(?:not supported|unsupported)"
_PARAM_WORDING = tuple(
    re.compile(pattern, re.IGNORECASE | re.MULTILINE)
    for pattern in (
        rf"unsupported parameter:\s*{_Q}?{_NAME}",  # OpenAI
        rf"unknown parameter:\s*{_Q}?{_NAME}",  # OpenAI, proxies
        rf"unrecognized request arguments? supplied:\s*{_NAME}",  # Azure OpenAI
        rf"unsupported param\b[^:\n]{{0,60}}:\s*{_Q}?{_NAME}",  # llama.cpp
        rf"illegal param:\s*{_Q}?{_NAME}",  # llama.cpp
        rf"unknown name\s*{_Q}{_NAME}{_Q}:",  # Google (a nested field says "… at 'path'")
        rf"loc{_Q}?\s*:\s*[(\[]\s*{_Q}body{_Q}\s*,\s*{_Q}{_NAME}{_Q}\s*[)\]]",  # pydantic repr
        rf"^\s*{_NAME}\s*\n\s*extra inputs are not permitted",  # pydantic v2 text
        rf"not permitted,?\s*field:\s*{_Q}?{_NAME}",  # Fireworks
        rf"(?:parameter|param|argument|field)\s+{_Q}?{_NAME}{_Q}?\s+{_UNSUPPORTED}",
        rf"{_Q}{_NAME}{_Q}\s+{_UNSUPPORTED}",
        rf"^{_NAME}\s+{_UNSUPPORTED}",
    )
)
_ONE_CHOICE = re.compile(r"only one (?:completion )?choice is allowed", re.IGNORECASE)
_LLAMA_PARAM = re.compile(
    r"unsupported param\b|illegal param:|only one completion choice", re.IGNORECASE
)
REQUEST_FIELDS = frozenset(
    {
        "model", "messages", "stream", "stream_options", "temperature", "top_p", "n", "stop",
        "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty",
        "logit_bias", "logprobs", "top_logprobs", "user", "seed", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "reasoning_effort", "service_tier", "store",
        "metadata", "modalities", "audio", "prediction", "functions", "function_call",
    }
)  # fmt: skip
"""The top-level fields of a chat-completions request, the only names ``named_param`` returns."""
SETTABLE = frozenset(SPECS) - {"model"}
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
    param = named_param(payload if payload is not None else body.decode("utf-8", "replace"))
    if status == 500 and param and _LLAMA_PARAM.search(message):
        return _bad_request(400, message, detail, model, param)  # older llama.cpp: 500, not 400
    if status == 409 or status >= 500:
        return LLMUnavailable(detail, retry_after=parse_retry_after(headers))
    if 400 <= status < 500:
        return _bad_request(status, message, detail, model, param)
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
    param = named_param(error)
    if client_side or _CONTEXT.search(message) or _MODEL.search(message):
        return _bad_request(code or 400, message, detail, model, param)
    if re.search(r"invalid_request", message, re.I) or (param and _LLAMA_PARAM.search(message)):
        return LLMBadRequest(detail, param=param)
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


def _bad_request(
    status: int, message: str, detail: str, model: str, param: str | None = None
) -> LLMBadRequest:
    if _CONTEXT.search(message):
        return LLMContextTooLong(detail, param=param)
    if param in SETTABLE:
        return LLMBadRequest(
            detail,
            param=param,
            user_message=(
                f"The model {model!r} does not accept the {param} setting; "
                "set it back to default in the settings."
            ),
        )
    if _MODEL.search(message) or (status == 404 and "model" in message.lower()):
        return LLMBadRequest(
            detail,
            param=param,
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
    return LLMBadRequest(detail, param=param)


def named_param(payload: Any) -> str | None:
    """The request field an error response or error object names, or ``None`` (module doc).

    ``payload`` is the parsed JSON body (or the text of a body that is not JSON)."""
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    param = error.get("param") if isinstance(error, dict) else None
    if isinstance(param, str) and param in REQUEST_FIELDS:
        return param
    texts: list[str] = []
    for node in _nodes(payload):
        if isinstance(node, str):
            texts.append(node)
        elif isinstance(node, dict) and (field := _body_field(node.get("loc"))):
            return field
    for text in texts:
        found = _worded_param(text)
        if found:
            return found
    return None


def _worded_param(text: str) -> str | None:
    for pattern in _PARAM_WORDING:
        for match in pattern.finditer(text):
            if match.group(1) in REQUEST_FIELDS:
                return match.group(1)
    return "n" if _ONE_CHOICE.search(text) else None


def _body_field(loc: Any) -> str | None:
    """``name`` for a pydantic location ``["body", name]`` naming a request field."""
    if isinstance(loc, list) and len(loc) == 2 and loc[0] == "body":
        name = loc[1]
        return name if isinstance(name, str) and name in REQUEST_FIELDS else None
    return None


def _nodes(payload: Any) -> list[Any]:
    """Every value in a parsed JSON payload, breadth first, at most ``MAX_NODES``."""
    out: list[Any] = [payload]
    index = 0
    while index < len(out) and len(out) < MAX_NODES:
        node = out[index]
        index += 1
        if isinstance(node, dict):
            out.extend(node.values())
        elif isinstance(node, list):
            out.extend(node)
    return out[:MAX_NODES]


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
