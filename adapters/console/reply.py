"""A ``StreamedReply`` that writes straight to a terminal or pipe."""

from __future__ import annotations

from typing import TextIO

from bot.errors import ReplyClosedError

STOPPED_MARK = " [stopped]"


class ConsoleReply:
    """Prints deltas as they arrive; failures go to stderr as one line."""

    def __init__(self, out: TextIO, err: TextIO, *, prefix: str = "") -> None:
        self._out = out
        self._err = err
        self._prefix = prefix
        self._started = False
        self._closed = False
        self._wrote = False

    @property
    def message_ids(self) -> list[str]:
        return []

    async def start(self) -> None:
        self._check_open()
        if not self._started and self._prefix:
            self._out.write(self._prefix)
            self._out.flush()
        self._started = True

    async def append(self, text: str) -> None:
        self._check_open()
        self._wrote = self._wrote or bool(text)
        self._out.write(text)
        self._out.flush()

    async def finish(self) -> None:
        self._close("\n")

    async def stop(self) -> None:
        self._close(STOPPED_MARK + "\n")

    async def fail(self, notice: str) -> None:
        self._close("\n" if self._wrote or self._prefix else "")
        self._err.write(f"threadline: {notice}\n")
        self._err.flush()

    def _close(self, tail: str) -> None:
        self._check_open()
        self._closed = True
        self._out.write(tail)
        self._out.flush()

    def _check_open(self) -> None:
        if self._closed:
            raise ReplyClosedError("console reply already closed")
