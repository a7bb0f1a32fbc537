"""Reply branches: a question that replies to an earlier answer continues from that answer.

An adapter passes the platform id of the message replied to as the ``BRANCH_FROM`` turn
option; ``ConversationEngine.accept`` resolves it to the stored answer's row id (``BRANCH``),
kept with the owed job so a takeover answers the same branch. Decided here: the branch's
context is every message up to and including that answer, then the question itself (the
newest message of its asker before the reserved answer); what was said after the answer is
left out. A reply to anything that is not a stored answer of the same conversation is an
ordinary question.

Turn options travel in the job's overrides under names starting with ``@``, which no
generation parameter has; ``split`` separates them from the parameters. ``SHORTCUT`` marks a
shortcut's question (``bot.shortcuts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.model import ChatMessage, Role

BRANCH_FROM = "@branch_from"
BRANCH = "@branch"
SHORTCUT = "@shortcut"
"""Set on a shortcut's question (summarize, translate): it carries its own material, so no
channel context is added to it."""
OPTION_PREFIX = "@"


def split(overrides: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(generation parameters, turn options) of a job's overrides."""
    params: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for name, value in (overrides or {}).items():
        (options if name.startswith(OPTION_PREFIX) else params)[name] = value
    return params, options


def branch_point(options: Mapping[str, Any]) -> int | None:
    """The answer row id a turn branches from, if any."""
    value = options.get(BRANCH)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def branch_history(history: Sequence[ChatMessage], branch: int, asker: str) -> list[ChatMessage]:
    """``history`` (messages before the answer being written) cut at answer ``branch``, with
    the asker's question appended."""
    kept = [m for m in history if m.id is not None and m.id <= branch]
    question = next(
        (m for m in reversed(history) if m.role is Role.USER and m.author_id == asker), None
    )
    if question is not None and question.id is not None and question.id > branch:
        kept.append(question)
    return kept
