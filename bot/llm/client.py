"""``ChatCompletionsClient``: the OpenAI-compatible ``ChatModel`` over httpx.

``POST {base_url}/chat/completions`` with ``Authorization: Bearer <key>``. Streams server-sent
events (``sse``), decodes chunks (``chunks``) and maps failures to typed errors (``failures``).

Timeouts (``LLMTimeouts``), each raising ``LLMTimeout`` that names which one fired:

- ``connect``: opening the TCP/TLS connection (httpx's connect timeout).
- ``first_token``: from sending the request until the first event (text, reasoning, a finished
  choice or usage). Role-only chunks and keep-alive comments do not count. In non-stream mode it
  bounds the wait for the whole answer, which is then its first token.
- ``idle``: after the first event, the longest wait for the next one (measured from when the
  consumer asks for it). A stalled stream fails with ``LLMTimeout``; whatever the consumer
  already received stays valid (the engine keeps the partial text). One timer per stream
  (``watchdog.IdleWatchdog``), not one per read.

Retries: at most ``max_retries`` more attempts, only while nothing has been yielded, and only
for retryable errors (429, 408, 409, 5xx, connection failures, connect and first-token
timeouts, a retryable error object before the first event). The wait is the server's
``Retry-After`` / ``retry-after-ms`` when given (a request to wait longer than
``MAX_RETRY_AFTER`` seconds fails at once with ``LLMRateLimited``), else exponential backoff
``min(0.5 * 2**attempt, 8) s`` with up to 25 % jitter. Once an event is yielded nothing is
retried: a retry would duplicate text.

Parameters a model does not take (``accepted.AcceptedParams``): each body is shaped for its
model (the token cap as ``max_completion_tokens`` where needed, parameters the model rejected
before left out). A 400 naming an optional parameter of the body is sent again at once
without it (or with the cap in the other field), before the first event only, once per
parameter per request, and without using up ``max_retries``, which stays for transient failures.

A 200 answer with a JSON body to a streaming request (a server that ignores ``stream: true``)
is read as a non-streamed completion. A 200 answer with nothing in it is ``LLMEmptyAnswer``
("the model returned nothing"); a 200 HTML page (a proxy's login page) is an
``LLMProtocolError`` saying so, in both modes. The API key is never logged nor put into an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from bot.errors import LLMError, LLMProtocolError, LLMTimeout
from bot.llm.accepted import AcceptedParams
from bot.llm.base import CompletionRequest, StreamEvent
from bot.llm.chunks import ChunkDecoder, parse_completion
from bot.llm.failures import empty_answer, error_from_status, html_instead, looks_like_html
from bot.llm.reader import EventReader, transport_error, transport_errors
from bot.llm.transport import aiohttp_transport
from bot.llm.watchdog import IdleWatchdog
from bot.metrics import Metrics

logger = logging.getLogger(__name__)

COMPLETIONS_PATH = "chat/completions"
MAX_RETRY_AFTER = 60.0
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
WRITE_TIMEOUT = 30.0

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[object]]
Attempt = Callable[[dict[str, Any]], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class LLMTimeouts:
    """Seconds allowed to connect, to get the first event, and between later events."""

    connect: float
    first_token: float
    idle: float


def build_http_client(base_url: str, connect_timeout: float) -> httpx.AsyncClient:
    """The shared ``httpx.AsyncClient`` for ``base_url`` (e.g. ``https://api.302.ai/v1``).

    Requests go to ``{base_url}/chat/completions``. A base URL that already ends in
    ``/chat/completions`` (a common copy-paste from provider docs) is trimmed, with a warning.
    Read timeouts are left to the client's own first-token and idle watchdogs. Bytes travel
    through aiohttp (``bot.llm.transport``: half the CPU per streamed delta of httpcore).
    """
    base = base_url.rstrip("/")
    suffix = "/" + COMPLETIONS_PATH
    if base.endswith(suffix):
        logger.warning("LLM base URL ends in %s; using %s", suffix, base[: -len(suffix)])
        base = base[: -len(suffix)]
    return httpx.AsyncClient(
        base_url=base + "/",
        timeout=_http_timeout(connect_timeout),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
        transport=aiohttp_transport(),
    )


class ChatCompletionsClient:
    """Streams chat completions from an OpenAI-compatible endpoint (see the module doc)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        timeouts: LLMTimeouts,
        max_retries: int = 2,
        sleep: Sleep = asyncio.sleep,
        metrics: Metrics | None = None,
        accepted: AcceptedParams | None = None,
    ) -> None:
        """``accepted``: what each model takes, learned as requests go (the composition root
        passes the configured one; without it, a fresh one with the default models)."""
        if not http.base_url.host:
            raise ValueError("the httpx client needs a base_url; use build_http_client()")
        self._http = http
        self._api_key = api_key
        self._timeouts = timeouts
        self._max_retries = max(0, max_retries)
        self._sleep = sleep
        self._metrics = metrics or Metrics.off()
        self._accepted = accepted or AcceptedParams()
        self._http_timeout = _http_timeout(timeouts.connect)

    def __repr__(self) -> str:
        return f"ChatCompletionsClient(base_url={str(self._http.base_url)!r})"

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Yield the answer's events as they arrive; raise ``LLMError`` on failure.

        Metrics: time to the first event and to the end of the stream, from the first attempt
        (retries included: what the user waits), once per request, never per event."""
        body = self._body(request, stream=True)
        sent = time.perf_counter()
        async with AsyncExitStack() as stack:
            reader, events = await self._retrying(
                request, body, lambda sent_body: self._open(stack, sent_body, request)
            )
            self._metrics.llm_first_token(time.perf_counter() - sent)
            watchdog = IdleWatchdog(self._timeouts.idle)
            try:
                while events:
                    for event in events:
                        yield event
                    events = await self._next_events(reader, watchdog)
                await reader.drain()
            except LLMError as err:
                self._metrics.llm_error(err)
                raise
            finally:
                watchdog.close()
                self._metrics.llm_request(time.perf_counter() - sent)

    async def complete(self, request: CompletionRequest) -> list[StreamEvent]:
        """Non-streaming mode: one request, the whole answer as the same events."""
        body = self._body(request, stream=False)
        sent = time.perf_counter()
        events = await self._retrying(
            request, body, lambda sent_body: self._complete_once(sent_body, request)
        )
        self._metrics.llm_first_token(time.perf_counter() - sent)  # the whole answer at once
        self._metrics.llm_request(time.perf_counter() - sent)
        return events

    def _body(self, request: CompletionRequest, *, stream: bool) -> dict[str, Any]:
        return self._accepted.shape(request.params.model, request_body(request, stream=stream))

    async def _retrying(
        self, request: CompletionRequest, body: dict[str, Any], attempt: Attempt[T]
    ) -> T:
        """``attempt(body)`` until it succeeds: again at once with the body changed when a 400
        names one of its optional parameters, after a delay on a transient failure."""
        number = 0
        changed: set[str] = set()
        while True:
            try:
                return await attempt(body)
            except LLMError as err:
                self._metrics.llm_error(err)  # every failed attempt, retried or not
                fixed = self._accepted.retry_body(request.params.model, body, err, changed)
                if fixed is not None:
                    body = fixed
                    continue
                delay = self._retry_delay(err, number)
                if delay is None:
                    raise
                number += 1
                logger.info(
                    "LLM request failed (%s); retry %d of %d in %.2f s",
                    err,
                    number,
                    self._max_retries,
                    delay,
                )
                await self._sleep(delay)

    def _retry_delay(self, err: LLMError, number: int) -> float | None:
        """Seconds before the next attempt, or ``None`` to give up and raise ``err``."""
        if not err.retryable or number >= self._max_retries:
            return None
        retry_after: float | None = getattr(err, "retry_after", None)
        if retry_after is not None:
            return retry_after if retry_after <= MAX_RETRY_AFTER else None
        backoff: float = min(BACKOFF_BASE * 2**number, BACKOFF_MAX)
        return backoff * (1 - 0.25 * random.random())

    async def _open(
        self, outer: AsyncExitStack, body: dict[str, Any], request: CompletionRequest
    ) -> tuple[EventReader, list[StreamEvent]]:
        """One attempt: send, check the status, read up to the first events."""
        async with AsyncExitStack() as attempt:
            try:
                async with asyncio.timeout(self._timeouts.first_token):
                    reader, events = await self._start(attempt, body, request)
            except TimeoutError:
                raise self._timeout("first-token", self._timeouts.first_token) from None
            outer.push_async_exit(attempt.pop_all())
            return reader, events

    async def _start(
        self, stack: AsyncExitStack, body: dict[str, Any], request: CompletionRequest
    ) -> tuple[EventReader, list[StreamEvent]]:
        model = request.params.model
        logger.debug("POST %s model=%s stream=True", COMPLETIONS_PATH, model)
        with transport_errors(self._timeouts.connect):
            response = await stack.enter_async_context(
                self._http.stream(
                    "POST",
                    COMPLETIONS_PATH,
                    json=body,
                    headers=self._headers("text/event-stream"),
                    timeout=self._http_timeout,
                )
            )
            await self._check_status(response, model)
            if looks_like_html(response.headers.get("content-type", ""), b""):
                raise html_instead("an event stream")
            choices = body.get("n", 1)  # 1 when the model rejected n
            reader = EventReader(response, ChunkDecoder(choices, model=model))
            if _is_json(response):
                reader.ended = True
                return reader, parse_completion(_json(await response.aread()), model=model)
            return reader, await reader.next_events()

    async def _next_events(self, reader: EventReader, watchdog: IdleWatchdog) -> list[StreamEvent]:
        """The next batch, within the idle deadline (no context managers: this runs per delta)."""
        watchdog.waiting()
        try:
            return await reader.next_events()
        except asyncio.CancelledError:
            if watchdog.expired():
                raise self._timeout("idle", self._timeouts.idle) from None
            raise
        except httpx.TransportError as exc:
            raise transport_error(exc, self._timeouts.connect) from None
        finally:
            watchdog.idle()

    async def _complete_once(
        self, body: dict[str, Any], request: CompletionRequest
    ) -> list[StreamEvent]:
        model = request.params.model
        logger.debug("POST %s model=%s stream=False", COMPLETIONS_PATH, model)
        try:
            async with asyncio.timeout(self._timeouts.first_token):
                with transport_errors(self._timeouts.connect):
                    response = await self._http.post(
                        COMPLETIONS_PATH,
                        json=body,
                        headers=self._headers("application/json"),
                        timeout=self._http_timeout,
                    )
        except TimeoutError:
            raise self._timeout("first-token", self._timeouts.first_token) from None
        await self._check_status(response, model)
        if looks_like_html(response.headers.get("content-type", ""), response.content):
            raise html_instead("JSON")
        return parse_completion(_json(response.content), model=model)

    async def _check_status(self, response: httpx.Response, model: str) -> None:
        if response.is_success:
            return
        body = await response.aread()
        raise error_from_status(
            response.status_code, response.headers, body, model=model, secret=self._api_key
        )

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"Accept": accept}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    @staticmethod
    def _timeout(which: str, seconds: float) -> LLMTimeout:
        return LLMTimeout(f"{which} timeout: no answer from the model within {seconds:g} s")


def request_body(request: CompletionRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body for ``request``: parameters, messages, stream flags and ``user``."""
    body = request.params.to_api()
    body["messages"] = with_image_parts(request)
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    if request.user:
        body["user"] = request.user
    return body


def with_image_parts(request: CompletionRequest) -> list[dict[str, str]] | list[dict[str, Any]]:
    """The messages, those with images as content parts (text first, then ``image_url``s)."""
    if not request.images:
        return request.messages
    out: list[dict[str, Any]] = []
    for index, message in enumerate(request.messages):
        images = request.images.get(index)
        if images:
            parts: list[dict[str, Any]] = [{"type": "text", "text": message["content"]}]
            parts += [{"type": "image_url", "image_url": {"url": url}} for _, url in images]
            out.append({**message, "content": parts})
        else:
            out.append(message)
    return out


def _http_timeout(connect: float) -> httpx.Timeout:
    return httpx.Timeout(connect=connect, read=None, write=WRITE_TIMEOUT, pool=None)


def _is_json(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.startswith("application/json")


def _json(body: bytes) -> Any:
    if not body.strip():
        raise empty_answer("the completion body is empty")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise LLMProtocolError(f"the completion is not valid JSON: {body[:200]!r}") from None
