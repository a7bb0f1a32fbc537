"""Read an open streaming httpx response as ``StreamEvent``s, and translate transport errors.

``EventReader`` pulls bytes, splits lines (``sse.LineSplitter``), frames events
(``sse.SSEDecoder``) and decodes chunks (``chunks.ChunkDecoder``), one non-empty batch of events
per call, so the client can put its first-token and idle deadlines around each call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import httpx

from bot.errors import LLMError, LLMTimeout, LLMUnavailable
from bot.llm.base import StreamEvent
from bot.llm.chunks import ChunkDecoder
from bot.llm.failures import html_instead, looks_like_html
from bot.llm.sse import LineSplitter, SSEDecoder
from bot.llm.transport import is_connect_timeout

logger = logging.getLogger(__name__)

DRAIN_TIMEOUT = 0.25
HEAD_BYTES = 64


class EventReader:
    """Reads an open streaming response, one batch of events at a time."""

    __slots__ = ("_bytes", "_chunks", "_exhausted", "_failure", "_head", "_lines", "_sse", "ended")

    def __init__(self, response: httpx.Response, chunks: ChunkDecoder) -> None:
        self._bytes = response.aiter_bytes()
        self._head = b""
        self._lines = LineSplitter()
        self._sse = SSEDecoder()
        self._chunks = chunks
        self.ended = False
        self._exhausted = False
        self._failure: LLMError | None = None

    async def next_events(self) -> list[StreamEvent]:
        """The next non-empty batch of events; ``[]`` only once the answer is complete."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        while not self.ended:
            try:
                data = await anext(self._bytes)
            except StopAsyncIteration:
                self.ended = self._exhausted = True
                return self._at_end()
            if len(self._head) < HEAD_BYTES:
                self._head += data[:HEAD_BYTES]
            events = self._feed(self._lines.feed(data))
            if self._chunks.done:
                self.ended = True
            if events:
                return events
        return []

    async def drain(self) -> None:
        """Read what follows ``[DONE]`` (normally nothing) so the connection can be reused."""
        if not self._chunks.done or self._exhausted:
            return
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT):
                async for _ in self._bytes:
                    pass
            self._exhausted = True
        except (TimeoutError, httpx.HTTPError):
            logger.debug("could not drain the response after [DONE]; closing the connection")

    def _feed(self, lines: list[str]) -> list[StreamEvent]:
        """Events of ``lines``; a failure after some events is held for the next call, so the
        consumer gets everything that came before it (one read may carry many events)."""
        events: list[StreamEvent] = []
        try:
            for line in lines:
                data = self._sse.feed(line)
                if data is not None:
                    events.extend(self._chunks.feed(data))
        except LLMError as exc:
            self._hold(events, exc)
        return events

    def _hold(self, events: list[StreamEvent], failure: LLMError) -> None:
        """Raise ``failure`` now if nothing came before it, else on the next call."""
        if not events:
            raise failure
        self._failure = failure
        self.ended = True

    def _at_end(self) -> list[StreamEvent]:
        events = self._feed(self._lines.flush())
        tail = self._sse.flush()
        if tail is not None and self._failure is None:
            try:
                events.extend(self._chunks.feed(tail))
            except LLMError as exc:
                self._hold(events, exc)
        if self._failure is not None:
            return events
        if not events and not self._chunks.done and looks_like_html("", self._head):
            raise html_instead("an event stream")  # an HTML page labelled text/event-stream
        return events + self._chunks.finish()


@contextmanager
def transport_errors(connect_timeout: float) -> Iterator[None]:
    """Translate httpx's transport exceptions into ``LLMError``s."""
    try:
        yield
    except httpx.TransportError as exc:
        raise transport_error(exc, connect_timeout) from None


def transport_error(exc: httpx.TransportError, connect_timeout: float) -> LLMError:
    """The ``LLMError`` for one of httpx's transport exceptions."""
    if isinstance(exc, httpx.ConnectTimeout) and is_connect_timeout(exc):
        return LLMTimeout(f"connect timeout: could not connect within {connect_timeout:g} s")
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return LLMTimeout(f"timeout talking to the completions endpoint: {exc!r}")
    return LLMUnavailable(f"could not reach or read the completions endpoint: {_cause(exc)}")


def _cause(exc: httpx.TransportError) -> str:
    """The failure in httpx's words (``ConnectError``, ``ReadError``...), whichever transport.

    Under the aiohttp transport a refused connection and a connection lost mid-answer both
    arrive as ``ConnectTimeout`` (see ``transport.is_connect_timeout``): they are named here
    from aiohttp's own exception, which is also what the message shows."""
    cause = exc.__cause__
    if not isinstance(cause, aiohttp.ClientError):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(cause, aiohttp.ClientConnectorError):
        return f"ConnectError: {cause}"
    kind = "ReadError" if isinstance(exc, httpx.ConnectTimeout) else type(exc).__name__
    return f"{kind}: {type(cause).__name__}: {cause}"
