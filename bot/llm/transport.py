"""The HTTP transport under the completions client: httpx's API over aiohttp's connection pool.

Decision (``benchmarks/sse_readers.py``, figures in the README): reading a streamed answer
through httpx's own stack (httpcore → h11 → anyio) costs about twice the CPU per delta of
aiohttp's C-parsed stream, and ``httpx_aiohttp.AiohttpTransport`` under an
``httpx.AsyncClient`` costs about the same as aiohttp used directly. So the client keeps httpx
as its API (requests, responses, errors, event hooks) and reads the bytes through aiohttp.

The aiohttp session is ours, not the transport's default: no cap on connections (the default
100 would queue the 101st concurrent answer), no proxy settings from the environment (httpx
routes proxied URLs to its own transports) and httpx's TLS context (the same CA bundle).
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

KEEPALIVE_SECONDS = 30.0


def aiohttp_transport() -> httpx.AsyncBaseTransport:
    """An httpx transport whose connections, HTTP parsing and socket reads are aiohttp's."""
    tls = httpx.create_ssl_context()

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=0, ssl=tls, keepalive_timeout=KEEPALIVE_SECONDS)
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    return AiohttpTransport(client=session)


def is_connect_timeout(exc: httpx.ConnectTimeout) -> bool:
    """Whether httpx's ``ConnectTimeout`` really is one.

    ``httpx_aiohttp`` reports every aiohttp connection error (refused, reset, a server that
    hung up mid-stream) as ``ConnectTimeout``; the aiohttp exception is its ``__cause__``.
    """
    cause = exc.__cause__
    return not isinstance(cause, aiohttp.ClientError) or isinstance(
        cause, aiohttp.ServerTimeoutError
    )
