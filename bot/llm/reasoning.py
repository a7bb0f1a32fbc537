"""Split one choice's content stream into answer text and ``<think>`` reasoning.

Reasoning models either send their thoughts in a separate field (``reasoning_content``; the
chunk decoder handles that) or inline, as a ``<think>…</think>`` block at the start of the
content. ``ThinkSplitter`` handles the inline form, incrementally, with tags split across
deltas at any character.

Decisions:

- A ``<think>`` tag opens a reasoning block only *before the answer has started*: at the start
  of the content (leading whitespace ignored) or right after an earlier block closed. Once
  answer text has been emitted, ``<think>`` is ordinary text (a user may ask about the tag).
- Whitespace between ``</think>`` and the answer is dropped; the answer starts at its first
  visible character.
- Undecided text is held back only while it could still be the start of a tag (at most
  ``len("</think>") - 1`` characters), so answers are never delayed more than that.
- At the end of the choice, held-back text is released as what it was: a dangling ``<thi`` at
  the start is answer text, a partial ``</thi`` inside a block is reasoning. An unclosed block
  means the whole content was reasoning (e.g. the model hit ``max_tokens`` while thinking).
"""

from __future__ import annotations

from enum import Enum

from bot.llm.base import ReasoningDelta, TextDelta

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

Piece = TextDelta | ReasoningDelta


class _State(Enum):
    START = "start"  # nothing visible yet: a <think> block may still open
    THINK = "think"  # inside a <think> block
    ANSWER = "answer"  # plain answer text; tags are literal from here on


class ThinkSplitter:
    """Per-choice state machine: ``feed`` content deltas, ``flush`` when the choice ends."""

    __slots__ = ("_after_block", "_index", "_pending", "_state")

    def __init__(self, index: int = 0) -> None:
        self._index = index
        self._state = _State.START
        self._pending = ""
        self._after_block = False

    def feed(self, text: str) -> list[Piece]:
        """Classify ``text`` (the next content delta) into answer and reasoning pieces."""
        if self._state is _State.ANSWER:
            return [TextDelta(text, self._index)]
        buffer, self._pending = self._pending + text, ""
        if self._state is _State.THINK:
            return self._in_block(buffer)
        return self._at_start(buffer)

    def flush(self) -> list[Piece]:
        """Release whatever is held back; call once when the choice has finished."""
        held, self._pending = self._pending, ""
        if not held:
            return []
        if self._state is _State.THINK:
            return [ReasoningDelta(held, self._index)]
        if self._after_block and not held.strip():
            return []
        return [TextDelta(held, self._index)]

    def _at_start(self, buffer: str) -> list[Piece]:
        visible = buffer.lstrip()
        if visible.startswith(OPEN_TAG):
            self._state = _State.THINK
            return self._in_block(visible[len(OPEN_TAG) :])
        if not visible or OPEN_TAG.startswith(visible):
            self._pending = "" if self._after_block and not visible else buffer
            return []
        self._state = _State.ANSWER
        return [TextDelta(visible if self._after_block else buffer, self._index)]

    def _in_block(self, buffer: str) -> list[Piece]:
        end = buffer.find(CLOSE_TAG)
        if end >= 0:
            pieces: list[Piece] = [ReasoningDelta(buffer[:end], self._index)] if end else []
            self._state = _State.START
            self._after_block = True
            return pieces + self._at_start(buffer[end + len(CLOSE_TAG) :])
        keep = _partial_tag_suffix(buffer, CLOSE_TAG)
        self._pending = buffer[len(buffer) - keep :] if keep else ""
        thought = buffer[: len(buffer) - keep]
        return [ReasoningDelta(thought, self._index)] if thought else []


def split_think(text: str, index: int = 0) -> list[Piece]:
    """Split a complete content string (non-streaming mode) the same way."""
    splitter = ThinkSplitter(index)
    return splitter.feed(text) + splitter.flush()


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``tag``."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0
