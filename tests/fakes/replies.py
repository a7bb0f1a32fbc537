"""A ``StreamedReply`` that records what the engine did to it, for engine tests."""

from __future__ import annotations

import asyncio

from bot.errors import ReplyClosedError


class RecordingReply:
    """Keeps the text and how the reply closed; ``first_text`` fires on the first append."""

    def __init__(self) -> None:
        self.started = False
        self.parts: list[str] = []
        self.closed_as: str | None = None
        self.notice = ""
        self.first_text = asyncio.Event()
        self.ids = ["msg-1"]

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def message_ids(self) -> list[str]:
        return self.ids

    async def start(self) -> None:
        self._check()
        self.started = True

    async def append(self, text: str) -> None:
        self._check()
        self.parts.append(text)
        self.first_text.set()

    async def finish(self) -> None:
        self._close("finished")

    async def stop(self) -> None:
        self._close("stopped")

    async def fail(self, notice: str) -> None:
        self._close("failed")
        self.notice = notice

    def _close(self, how: str) -> None:
        self._check()
        self.closed_as = how

    def _check(self) -> None:
        if self.closed_as is not None:
            raise ReplyClosedError(f"reply already {self.closed_as}")
