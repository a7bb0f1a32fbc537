"""Summarize and translate: the question a shortcut asks, as any question is asked.

Decided here: a shortcut becomes an ordinary accepted question (stored, owed, streamed and
answered through the engine like a mention), whose text is the instruction followed by the
material, each line attributed. The material comes from what Threadline already holds (the
stored conversation of a thread, the kept channel messages, the clicked message itself); no
history API is paged. The target language of a translation is the channel's ``translate_to``,
else the user's locale, else English.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.model import ChatMessage, Role
from bot.store.ambient import SeenMessage

MAX_MATERIAL_CHARS = 24_000
"""The newest lines are kept within this (the prompt builder still enforces the model's window)."""
DEFAULT_LANGUAGE = "English"
SUMMARIZE = (
    "Summarize the following conversation for someone who missed it: the main points, "
    "decisions and open questions, briefly."
)
TRANSLATE = "Translate the following message into {language}. Reply with the translation only."


def summarize_question(lines: Sequence[str]) -> str:
    """The question asking for a summary of ``lines`` (oldest first)."""
    return f"{SUMMARIZE}\n\n{_material(lines)}"


def translate_question(text: str, language: str) -> str:
    """The question asking for ``text`` in ``language``."""
    return f"{TRANSLATE.format(language=language or DEFAULT_LANGUAGE)}\n\n{text}"


def language(setting: str, locale: str) -> str:
    """The channel's ``translate_to``, else the user's locale (``fr-FR``), else English."""
    return setting or locale.replace("_", "-") or DEFAULT_LANGUAGE


def history_lines(history: Sequence[ChatMessage], bot_name: str) -> list[str]:
    """A stored conversation as attributed lines (deleted and empty turns left out)."""
    lines = []
    for message in history:
        if not message.content.strip() or message.role is Role.SYSTEM:
            continue
        who = bot_name if message.role is Role.ASSISTANT else message.author_name
        lines.append(_line(who or message.author_id, message.content))
    return lines


def seen_lines(seen: Sequence[SeenMessage]) -> list[str]:
    """Kept channel messages as attributed lines."""
    return [_line(m.author_name or m.author_id, m.text) for m in seen if m.text.strip()]


def line(author: str, text: str) -> str:
    """One attributed line."""
    return _line(author, text)


def _line(author: str, text: str) -> str:
    return f"[{author}] {text.strip()}"


def _material(lines: Sequence[str]) -> str:
    kept: list[str] = []
    size = 0
    for text in reversed(lines):
        size += len(text) + 1
        if size > MAX_MATERIAL_CHARS:
            break
        kept.append(text)
    return "\n".join(reversed(kept))
