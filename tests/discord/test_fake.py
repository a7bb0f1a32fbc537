"""The Discord fake itself enforces what the suite relies on (so those tests can fail)."""

from __future__ import annotations

import aiohttp

from tests.fakes.discord_api import FakeDiscord


async def _post(fake: FakeDiscord, content: str) -> tuple[int, dict[str, object], dict[str, str]]:
    headers = {"Authorization": f"Bot {fake.token}"}
    url = f"{fake.api_base}/channels/{fake.general}/messages"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"content": content}, headers=headers) as response,
    ):
        return response.status, await response.json(), dict(response.headers)


async def test_content_over_2000_characters_is_refused(fake: FakeDiscord) -> None:
    status, body, _ = await _post(fake, "x" * 2001)
    assert status == 400 and body["code"] == 50035
    status, _, headers = await _post(fake, "x" * 2000)
    assert status == 200 and headers["X-RateLimit-Limit"] == "5"


async def test_a_429_looks_like_discords(fake: FakeDiscord) -> None:
    fake.limits.set_rule("messages", 1, 60.0)
    await _post(fake, "first")
    status, body, headers = await _post(fake, "second")
    assert status == 429
    assert body["global"] is False and 0 < float(str(body["retry_after"])) <= 60
    assert headers["Via"] and headers["X-RateLimit-Scope"] == "user"
    assert headers["Retry-After"] and headers["X-RateLimit-Remaining"] == "0"
    assert headers["Content-Type"] == "application/json"
