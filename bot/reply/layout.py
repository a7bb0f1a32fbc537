"""Which text each platform message of a reply should show, given the answer so far.

Messages before the last are *finalised*: once committed here their text never changes. A
chunk is committed when the text runs past its window by ``SETTLE`` characters (so neither the
splitter's look-ahead nor a sanitiser's can still change it), or when the reply closes. The
last message shows the rest, and while the reply is open: a temporary fence close if a code
block is still open (so it renders), then the "still writing" indicator.

Sizes are counted in the platform's ``TextUnit``. Every cut, interim or final, falls on a
grapheme-cluster boundary outside platform tokens (``bot.reply.split``). While the reply is
open, the live message also holds back a trailing emoji sequence that the next characters may
still extend (``👨‍👩`` on its way to ``👨‍👩‍👧‍👦``, half a flag, ``👍`` before its skin tone), so
an interim edit never shows a cluster in pieces.
"""

from __future__ import annotations

import logging

from bot.reply import graphemes, split, units
from bot.reply.units import TextUnit

logger = logging.getLogger(__name__)

SETTLE = 64
"""Characters that must follow a window before its chunk is committed while streaming."""

_ANCHOR = 16


class Layout:
    """Incremental split of a growing display text into finalised parts plus a live part."""

    def __init__(
        self, max_chars: int, indicator: str, unit: TextUnit = TextUnit.CODE_POINTS
    ) -> None:
        self.max_chars = max_chars
        self.indicator = indicator
        self.unit = unit
        self.room = max_chars - units.size(indicator, unit) - 8
        if self.room < split.MIN_ROOM:
            raise ValueError(
                f"max_chars={max_chars} leaves {self.room} characters per message after the "
                f"indicator; at least {split.MIN_ROOM} are needed"
            )
        self.parts: list[str] = []
        self.ends: list[int] = []  # display offset where each finalised part ends
        self._start = 0
        self._state: split.Fence | None = None
        self._anchor = ""
        self._warned = False

    @property
    def committed(self) -> int:
        """How many display characters the finalised parts hold."""
        return self._start

    def update(self, display: str, *, closed: bool) -> None:
        """Commit every chunk of ``display`` that can no longer change."""
        self._check_anchor(display)
        while True:
            chunk = split.next_chunk(display, self._start, self._state, self.room, self.unit)
            if chunk.end >= len(display):
                return
            if not closed and len(display) < self._start + self.room + SETTLE:
                return
            self.parts.append(chunk.render(display))
            self.ends.append(chunk.end)
            self._start, self._state = chunk.end, chunk.closed
            self._anchor = display[max(0, self._start - _ANCHOR) : self._start]

    def live(self, display: str, *, closed: bool) -> str:
        """The last message's text (call ``update`` first)."""
        if not closed:
            display = display[: self.shown_end(display)]
        chunk = self.live_chunk(display)
        text = chunk.render(display)
        if closed:
            return text
        if chunk.end >= len(display):
            text = self._close_open_fence(display, text)
        return self._with_indicator(text)

    def live_chunk(self, display: str) -> split.Chunk:
        """The part of ``display`` the last message shows (``live`` renders it)."""
        return split.next_chunk(display, self._start, self._state, self.room, self.unit)

    def shown_end(self, display: str) -> int:
        """How much of an open reply's ``display`` the messages show: all of it, less a
        trailing emoji sequence that may still grow (unless nothing new would be left)."""
        end = len(display)
        if not graphemes.may_grow(display):
            return end
        edge = graphemes.last_cluster_start(display, end)
        return edge if edge > self._start else end

    def closing_suffix(self, display: str, mark: str) -> str:
        """What ``fail``/``stop`` append to ``display``: close an open code block, then ``mark``."""
        if not display.strip():
            return mark
        self.update(display, closed=False)
        fence = self.end_state(display)
        if fence is None:
            return f"\n\n{mark}"
        newline = "" if display.endswith("\n") else "\n"
        return f"{newline}{fence.chars}\n\n{mark}"

    def end_state(self, display: str) -> split.Fence | None:
        """The fence still open where ``display`` ends (its partial last line counts)."""
        return split.state_at_end(display, self._start, self._state)

    def _close_open_fence(self, display: str, text: str) -> str:
        fence = self.end_state(display)
        if fence is None:
            return text
        closed = f"{text}{'' if text.endswith(chr(10)) else chr(10)}{fence.chars}"
        return (
            closed
            if units.fits(closed + self.indicator + "\n", self.max_chars, self.unit)
            else text
        )

    def _with_indicator(self, text: str) -> str:
        last_line = text[split.line_start(text, len(text)) :]
        if split.is_fence_like(last_line):
            return f"{text}\n{self.indicator.strip()}"
        return f"{text}{self.indicator}"

    def _check_anchor(self, display: str) -> None:
        if self._warned or not self._anchor:
            return
        if display[self._start - len(self._anchor) : self._start] != self._anchor:
            self._warned = True
            logger.warning(
                "the sanitiser changed text of a finalised message; the final text may differ "
                "from sanitize(answer) near character %d",
                self._start,
            )
