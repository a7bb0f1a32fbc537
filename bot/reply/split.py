"""Split answer text into platform messages, keeping code fences intact (pure functions).

A cut prefers, in order: a paragraph break, a line break, the end of a sentence, a space, and
only then a hard cut; the first four are taken only in the upper half of the window, then in
the whole window. When a cut falls inside a fenced code block, the chunk gets a *close marker*
and the next one a *reopen marker* carrying the fence's language, so every message renders its
own balanced code block:

    cut at a line break:     chunk N ends ``…\\n`` + "```"      chunk N+1 starts "```py\\n"
    cut inside a long line:  chunk N ends ``…`` + "\\n```"     chunk N+1 starts "```py \\n"

The extra space in the second reopen (invisible: info strings are trimmed) tells the two cases
apart, so ``join_parts`` can remove the markers and give back the source text exactly.

Fence state is that of the *source* text after its complete lines (a partial last line does not
count). Cuts never land inside a line that starts a fence, nor just before one, so a marker
never changes how the source around it parses.

Every cut falls on an extended grapheme-cluster boundary (``bot.reply.graphemes``) and outside
platform tokens such as ``<@U123|name>`` or ``<t:123:R>`` (``bot.reply.tokens``), at every
level of preference; only a window holding no such position at all (a token or cluster wider
than the message) is cut inside one, tokens first, at a cluster boundary if there is one.

Sizes are counted in the platform's ``TextUnit`` (``bot.reply.units``): ``room`` and every
rendered part are measured in it, positions are code-point indices into the text.

The cut for a given start depends only on the ``room`` characters after it plus
``LOOKAHEAD``, so it is stable while text streams in; the exception is a token still open at
the end of the text, which counts as a token (``bot.reply.tokens``): the cut taken then may be
earlier than the final text's, but it stays valid however the text continues.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.reply import graphemes, units
from bot.reply.tokens import token_around
from bot.reply.units import TextUnit

CODE_POINTS = TextUnit.CODE_POINTS

LOOKAHEAD = 8
"""Characters past a window the splitter may read: a cut is final once they exist."""

MIN_ROOM = 64
"""Smallest message size the splitter accepts."""

MAX_LANGUAGE = 24
"""Longest language tag a reopened fence repeats."""

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})([^\n]*)")
_SENTENCE_END = re.compile(r"[.!?…][)\"'»”’\]]*\s")


@dataclass(frozen=True, slots=True)
class Fence:
    """An open code fence: its marker run (e.g. "```") and its info string (e.g. "python")."""

    chars: str
    info: str

    @property
    def language(self) -> str:
        """The info string's first word (capped), which is all a reopened fence repeats."""
        words = self.info.split(maxsplit=1)
        return words[0][:MAX_LANGUAGE] if words else ""

    def reopen(self, *, mid_line: bool) -> str:
        return f"{self.chars}{self.language}{' ' if mid_line else ''}\n"

    def close(self, *, mid_line: bool) -> str:
        return f"\n{self.chars}" if mid_line else self.chars

    def closed_by(self, line: str) -> bool:
        match = _FENCE.fullmatch(line)
        if match is None or match[1][0] != self.chars[0] or len(match[1]) < len(self.chars):
            return False
        return not match[2].strip(" \t\r")


def opener(line: str) -> Fence | None:
    """The fence ``line`` opens, if it is an opening fence line (without its newline)."""
    match = _FENCE.fullmatch(line)
    if match is None or (match[1][0] == "`" and "`" in match[2]):
        return None
    return Fence(match[1], match[2])


def is_fence_like(line: str) -> bool:
    """Whether ``line`` starts like a fence line (≤3 spaces then ``` or ~~~)."""
    return _FENCE.match(line) is not None


def step(state: Fence | None, line: str) -> Fence | None:
    """Fence state after one complete ``line``."""
    if state is None:
        return opener(line)
    return None if state.closed_by(line) else state


def scan(text: str, start: int, end: int, state: Fence | None) -> Fence | None:
    """State after the complete lines ending in ``text[start:end]``, ``start`` at a line start."""
    pos = start
    newline = text.find("\n", pos, end)
    while newline != -1:
        state = step(state, text[pos:newline])
        pos = newline + 1
        newline = text.find("\n", pos, end)
    return state


def line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def state_at(text: str, pos: int, base: int = 0, state: Fence | None = None) -> Fence | None:
    """Fence state at ``pos`` given ``state`` at ``base`` (both anywhere in a line)."""
    return scan(text, line_start(text, base), line_start(text, pos), state)


def state_at_end(text: str, base: int, state: Fence | None) -> Fence | None:
    """Fence state when ``text`` ends, counting its partial last line as complete."""
    state = state_at(text, len(text), base, state)
    last = line_start(text, len(text))
    return step(state, text[last:]) if last < len(text) else state


@dataclass(frozen=True, slots=True)
class Chunk:
    """``text[start:end]`` as one message; ``opened``/``closed``: fence state at either end."""

    start: int
    end: int
    opened: Fence | None
    closed: Fence | None

    def render(self, text: str) -> str:
        head = self.opened.reopen(mid_line=_mid_line(text, self.start)) if self.opened else ""
        tail = self.closed.close(mid_line=_mid_line(text, self.end)) if self.closed else ""
        return f"{head}{text[self.start : self.end]}{tail}"


def _mid_line(text: str, pos: int) -> bool:
    return pos > 0 and text[pos - 1] != "\n"


def next_chunk(
    text: str, start: int, state: Fence | None, room: int, unit: TextUnit = CODE_POINTS
) -> Chunk:
    """The next message starting at ``start`` (fence ``state`` there), rendered ≤ ``room``
    ``unit``.

    If the rest of the text fits, the chunk takes all of it (and closes no fence).
    """
    if room < MIN_ROOM:
        raise ValueError(f"a message must hold at least {MIN_ROOM} characters, not {room}")
    whole = Chunk(start, len(text), state, None)
    rendered = whole.render(text)
    if len(rendered) <= room and (unit is CODE_POINTS or units.fits(rendered, room, unit)):
        return whole
    budget = room
    if state is not None:
        budget -= len(state.reopen(mid_line=_mid_line(text, start))) + len(state.chars) + 1
    for _ in range(8):
        limit = max(start + 1, units.end_within(text, start, budget, unit))
        end = find_cut(text, start, limit, state)
        chunk = Chunk(start, end, state, state_at(text, end, start, state))
        over = units.size(chunk.render(text), unit) - room
        if over <= 0:
            break
        budget -= over
    return chunk


def find_cut(text: str, start: int, limit: int, state: Fence | None) -> int:
    """Best cut in ``(start, limit]``: paragraph, line, sentence, word, else hard."""
    window = _Window(text, start, limit, state)
    half = start + max(1, (limit - start) // 2)
    for low in (half, start + 1):
        for finder in (window.paragraph, window.line, window.sentence, window.word):
            cut = finder(low)
            if cut is not None:
                return cut
    return window.hard()


@dataclass(frozen=True, slots=True)
class _Window:
    """Candidate cuts in ``text`` for a chunk starting at ``start`` in fence ``state``."""

    text: str
    start: int
    limit: int
    state: Fence | None

    def paragraph(self, low: int) -> int | None:
        return self._break_after("\n\n", low)

    def line(self, low: int) -> int | None:
        return self._break_after("\n", low)

    def sentence(self, low: int) -> int | None:
        ends = _SENTENCE_END.finditer(self.text, max(0, low - LOOKAHEAD), self.limit)
        for cut in reversed([match.end() for match in ends]):
            if cut >= low and _allowed(self.text, cut) and _intact(self.text, cut):
                return cut
        return None

    def word(self, low: int) -> int | None:
        end = self.limit
        while (
            found := max(self.text.rfind(" ", low - 1, end), self.text.rfind("\t", low - 1, end))
        ) != -1:
            if _allowed(self.text, found + 1) and _intact(self.text, found + 1):
                return found + 1
            end = found
        return None

    def hard(self) -> int:
        """The latest position that keeps fence lines, clusters and tokens whole; failing that,
        the same allowing a cut inside a token (one wider than the window); failing that (a
        fence-like line wider than the window), the latest one where the close marker cannot
        complete a closing fence line, on a cluster boundary if any is left."""
        for tokens in (True, False):
            cut = self._latest_whole(tokens=tokens)
            if cut is not None:
                return cut
        first = None
        for cut in range(self.limit, self.start, -1):
            if self._no_false_close(cut):
                if graphemes.is_boundary(self.text, cut):
                    return cut
                first = cut if first is None else first
        return self.limit if first is None else first

    def _latest_whole(self, *, tokens: bool) -> int | None:
        """The latest allowed cluster boundary (outside tokens if ``tokens``) in the window."""
        cut = self.limit
        while cut > self.start:
            opening = token_around(self.text, cut) if tokens else None
            if opening is not None:
                cut = opening
            elif _allowed(self.text, cut) and graphemes.is_boundary(self.text, cut):
                return cut
            else:
                cut -= 1
        return None

    def _no_false_close(self, cut: int) -> bool:
        inside = state_at(self.text, cut, self.start, self.state)
        return inside is None or not inside.closed_by(self.text[line_start(self.text, cut) : cut])

    def _break_after(self, sep: str, low: int) -> int | None:
        """The latest position after ``sep`` in ``[low, limit]``, unless right after an opener."""
        end = self.limit
        while (found := self.text.rfind(sep, max(0, low - len(sep)), end)) != -1:
            cut = found + len(sep)
            if not self._after_opener(cut):
                return cut
            end = cut - 1
        return None

    def _after_opener(self, cut: int) -> bool:
        """Whether the line before ``cut`` opens a fence (a cut there leaves an empty block)."""
        previous = line_start(self.text, cut - 1)
        if not is_fence_like(self.text[previous : previous + LOOKAHEAD]):
            return False
        return state_at(self.text, cut, self.start, self.state) is not None


def _allowed(text: str, pos: int) -> bool:
    """A mid-line cut must not split a fence-like line, nor leave one starting the next part."""
    if not _mid_line(text, pos):
        return True
    begin = line_start(text, pos)
    return not is_fence_like(text[begin : begin + LOOKAHEAD]) and not is_fence_like(
        text[pos : pos + LOOKAHEAD]
    )


def _intact(text: str, pos: int) -> bool:
    """A cut at ``pos`` keeps its grapheme cluster and any platform token whole."""
    return graphemes.is_boundary(text, pos) and token_around(text, pos) is None


def chunks(text: str, room: int, unit: TextUnit = CODE_POINTS) -> list[Chunk]:
    """All chunks of ``text``, each rendered within ``room`` ``unit``."""
    found: list[Chunk] = []
    start, state = 0, None
    while True:
        chunk = next_chunk(text, start, state, room, unit)
        found.append(chunk)
        if chunk.end >= len(text):
            return found
        start, state = chunk.end, chunk.closed


def split_text(
    text: str, max_chars: int, *, reserve: int = 0, unit: TextUnit = CODE_POINTS
) -> list[str]:
    """Split ``text`` into rendered parts of at most ``max_chars - reserve`` ``unit``."""
    return [chunk.render(text) for chunk in chunks(text, max_chars - reserve, unit)]


def join_parts(parts: Sequence[str]) -> str:
    """The source text of ``parts`` made by this module: fence markers removed.

    Raises ``ValueError`` if the parts were not produced by this splitter.
    """
    bodies: list[str] = []
    tail, state, head = "", None, ""
    for index, part in enumerate(parts):
        if not part.startswith(head):
            raise ValueError(f"part {index} does not reopen its code fence with {head!r}")
        body = part[len(head) :]
        head = ""
        fence = scan(tail + body, 0, len(tail) + len(body), state)
        if fence is not None and index + 1 < len(parts):
            body, head = _strip_close(body, fence, parts[index + 1], index)
        bodies.append(body)
        combined = tail + body
        state = scan(combined, 0, len(combined), state)
        tail = combined[line_start(combined, len(combined)) :]
    return "".join(bodies)


def _strip_close(body: str, fence: Fence, following: str, index: int) -> tuple[str, str]:
    """Remove the close marker of ``body``; return it and the reopen marker to expect next."""
    mid = following.startswith(fence.reopen(mid_line=True))
    close = fence.close(mid_line=mid)
    if not body.endswith(close):
        raise ValueError(f"part {index} ends inside a code fence without closing it")
    return body[: -len(close)], fence.reopen(mid_line=mid)
