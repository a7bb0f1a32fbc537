"""A reply that shows a notice (files not read) above the answer, never stored as its text.

The engine stores the answer from the generation's own text, so the notice is only what the
user sees: it goes out with the first piece of text (or alone when the answer ends empty)."""

from __future__ import annotations

from bot.reply.base import StreamedReply


class NoticedReply:
    """``reply`` with ``notice`` written before the answer's first text."""

    def __init__(self, reply: StreamedReply, notice: str) -> None:
        self._reply = reply
        self._notice = notice

    async def start(self) -> None:
        await self._reply.start()

    async def append(self, text: str) -> None:
        await self._reply.append(self._take() + text)

    async def finish(self) -> None:
        if self._notice:
            await self._reply.append(self._take())
        await self._reply.finish()

    async def fail(self, notice: str) -> None:
        await self._reply.fail(self._take() + notice)

    async def stop(self) -> None:
        await self._reply.stop()

    @property
    def message_ids(self) -> list[str]:
        return self._reply.message_ids

    def __getattr__(self, name: str) -> object:
        """Anything else (say reasoning display) is the wrapped reply's."""
        return getattr(self._reply, name)

    def _take(self) -> str:
        notice, self._notice = self._notice, ""
        return notice


def with_notice(reply: StreamedReply, notice: str) -> StreamedReply:
    """``reply`` itself when there is nothing to say."""
    return NoticedReply(reply, notice) if notice else reply
