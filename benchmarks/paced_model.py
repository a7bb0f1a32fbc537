"""An in-process ``ChatModel`` that streams at a set token rate, for isolating the bot's own cost.

It echoes the last user message in fixed-size deltas with a sleep between them, as the fake
server does, but without HTTP: the CPU it costs per delta (one sleep and one yield) is part of
what the "engine + reply + sink" row measures, so that row is an upper bound for those layers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bot.llm.base import ChoiceFinished, CompletionRequest, StreamEvent, TextDelta, UsageReport
from bot.model import Usage


class PacedModel:
    """Answers every request with its last user message, ``chunk_chars`` at a time."""

    def __init__(self, chunk_chars: int, chunk_delay: float) -> None:
        self._chars = chunk_chars
        self._delay = chunk_delay

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        text = request.messages[-1]["content"]
        for start in range(0, len(text), self._chars):
            await asyncio.sleep(self._delay)
            yield TextDelta(text[start : start + self._chars])
        yield ChoiceFinished("stop")
        yield UsageReport(Usage(len(text) // 4, len(text) // 4))

    async def complete(self, request: CompletionRequest) -> list[StreamEvent]:
        return [event async for event in self.stream(request)]
