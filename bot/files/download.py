"""A bounded HTTP download: never more than ``limit`` bytes, never a login page taken for a file.

Used by the adapters' ``fetch`` callables (Slack ``url_private`` with the bot token, Discord CDN
URLs). Redirects are not followed: a file URL that redirects (Slack does, to its sign-in page,
when the token lacks ``files:read``) is a refusal, as is an HTML page or a non-200 answer.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from bot.attachments import FileRefused

CONNECT_SECONDS = 10.0


async def download(url: str, limit: int, headers: Mapping[str, str] | None = None) -> bytes:
    """The body at ``url``; ``FileRefused`` past ``limit`` bytes or on a refusal."""
    timeout = httpx.Timeout(CONNECT_SECONDS, read=CONNECT_SECONDS)
    async with (
        httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client,
        client.stream("GET", url, headers=dict(headers or {})) as response,
    ):
        if response.status_code != 200:
            raise FileRefused(f"the download was refused (HTTP {response.status_code})")
        if response.headers.get("content-type", "").startswith("text/html"):
            raise FileRefused("the download was refused (a sign-in page came back)")
        data = bytearray()
        async for piece in response.aiter_bytes():
            data += piece
            if len(data) > limit:
                raise FileRefused(f"it is larger than {limit:,} bytes")
        return bytes(data)
