"""End to end through ``threadline run``: an emoji-only answer rolls over on cluster boundaries.

The fake model streams ~4,500 code points of ``👨‍👩‍👧‍👦`` (7 code points) and ``👍🏽`` (2) with no
space or newline anywhere, in deltas that split clusters, so every rollover is a hard cut and
most deltas end inside a cluster. Every content any bot message ever had (interim edits with
the indicator included) must be within Discord's 2,000 code points and made of whole clusters.
"""

from __future__ import annotations

import random
from pathlib import Path

import regex

from bot.reply.split import join_parts
from tests.discord.harness import bot_env, finished
from tests.discord.process import threadline_run
from tests.fakes.discord_api import FakeDiscord, opt
from tests.fakes.llm_server import FakeLLMServer, answer

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
THUMBS = "\U0001f44d\U0001f3fd"
INDICATOR = " ▌"
PLACEHOLDER = "…"
DISCORD_LIMIT = 2000  # code points (see bot.reply.units)


def _answer() -> str:
    rnd = random.Random(9)
    clusters: list[str] = []
    while sum(map(len, clusters)) < 4500:
        clusters.append(rnd.choice([FAMILY, FAMILY, THUMBS]))
    return "".join(clusters)


def _broken_clusters(content: str) -> list[str]:
    body = content.removesuffix(INDICATOR)
    return [c for c in regex.findall(r"\X", body) if c not in (FAMILY, THUMBS)]


async def test_rollover_keeps_emoji_clusters_whole(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    text = _answer()
    assert 4500 <= len(text) <= 4510
    async with threadline_run(bot_env(fake, llm, tmp_path), tmp_path, fake):
        llm.enqueue(answer(text, chunk_chars=31, chunk_delay=0.02))
        await fake.slash("chat", [opt("prompt", "emoji please")])
        threads = await fake.wait_until(lambda: fake.threads_of(fake.general))
        messages = await finished(fake, int(threads[0]["id"]), text=text)
    assert len(messages) == 3
    assert join_parts([m.content for m in messages]) == text
    versions = [v for m in messages for v in m.history if v != PLACEHOLDER]
    assert len(versions) > len(messages), "no interim edit was recorded"
    assert all(len(v) <= DISCORD_LIMIT for v in versions)
    assert {v: _broken_clusters(v) for v in versions if _broken_clusters(v)} == {}
