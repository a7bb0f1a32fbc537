"""Discord: one mention, the 7,078-character answer of ``benchmarks.finals``, final after the
request, on virtual time; the fake enforces 5 requests per 5 s on each route (the channel's
``PATCH`` edits and its ``POST`` messages)."""

from __future__ import annotations

from benchmarks.finals import DISCORD, DISCORD_GOAL, answer_text, row, run
from benchmarks.report import Options, Row

NAME = "discord_final"


async def measure(options: Options) -> list[Row]:
    from adapters.discord.sink import sink_limits

    outcome = await run([sink_limits(1234)], DISCORD, _unchanged, answer_text())
    return [row(NAME, outcome, DISCORD_GOAL, "1 mention")]


def _unchanged(text: str) -> str:
    """Discord sends text as it is (``AllowedMentions.none()`` stops pings)."""
    return text
