"""Channel context on a mention: the channel's messages just before it, in the question.

Decided here: the context goes into the question's own text, above it, as one labelled block
(``[author] text`` a line, oldest first): every chat model accepts that, where a second system
message mid-conversation is refused by some. It is bounded by ``MAX_TOKENS`` (the oldest lines
go first) and is never stored: history keeps the question as asked. Only the first question of
a conversation gets it (a top-level mention; a thread's follow-ups have the thread).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.model import ChatMessage, Role
from bot.store.ambient import SeenMessage
from bot.textclean import scrub

MAX_TOKENS = 2000
MAX_LINE_CHARS = 1000
HEADER = "Recent messages in this channel, before my question (context only):"
FOOTER = "My question:"


def first_question(history: Sequence[ChatMessage]) -> ChatMessage | None:
    """The question when it is the conversation's only message so far, else None."""
    if len(history) == 1 and history[0].role is Role.USER:
        return history[0]
    return None


def block(seen: Sequence[SeenMessage], cost: Callable[[str], int]) -> str:
    """The context block within ``MAX_TOKENS`` (by ``cost``), "" when nothing fits."""
    lines: list[str] = []
    used = cost(HEADER) + cost(FOOTER)
    for message in reversed(seen):
        line = f"[{scrub(message.author_name) or message.author_id}] {_short(message.text)}"
        used += cost(line)
        if used > MAX_TOKENS:
            break
        lines.append(line)
    if not lines:
        return ""
    return "\n".join([HEADER, *reversed(lines), "", FOOTER])


def with_context(history: list[ChatMessage], question: ChatMessage, text: str) -> list[ChatMessage]:
    """``history`` with ``question`` carrying the context ``text`` above it."""
    if not text:
        return history
    shown = replace(question, content=f"{text}\n{question.content}")
    return [shown if m is question else m for m in history]


def _short(text: str) -> str:
    flat = " ".join(scrub(text).split())
    return flat if len(flat) <= MAX_LINE_CHARS else flat[: MAX_LINE_CHARS - 1] + "…"
