"""Building the ``messages`` list for one completion: pure functions, no I/O.

The prompt is the system prompt (with ``{date}`` and ``{users}`` filled in) followed by as much
recent history as fits the model's context budget minus ``max_tokens``. Only complete
assistant turns are context: stopped, failed and superseded answers are left out. When more
than one person speaks, each user turn is labelled with its author's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bot.errors import LLMContextTooLong
from bot.model import ChatMessage, Role, TurnStatus
from bot.tokens import TokenEstimator

SAFETY_MARGIN = 0.05


@dataclass(frozen=True, slots=True)
class PromptBudget:
    """How many prompt tokens a request may use."""

    model: str
    context_tokens: int
    max_tokens: int

    @property
    def prompt_tokens(self) -> int:
        usable = int(self.context_tokens * (1 - SAFETY_MARGIN))
        return usable - self.max_tokens


def usable_history(history: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Drop assistant turns that did not complete; they must never be replayed as answers."""
    return [m for m in history if m.role is not Role.ASSISTANT or m.status is TurnStatus.COMPLETE]


def render_system_prompt(template: str, speakers: Sequence[str], today: date) -> str:
    """Fill ``{date}`` and ``{users}``; other braces are left as they are."""
    names = ", ".join(dict.fromkeys(speakers)) or "unknown"
    return template.replace("{date}", today.isoformat()).replace("{users}", names)


def build_messages(
    system_template: str,
    history: Sequence[ChatMessage],
    budget: PromptBudget,
    estimator: TokenEstimator,
    today: date,
) -> list[dict[str, str]]:
    """System prompt + the newest history that fits ``budget`` (the last message always)."""
    turns = usable_history(history)
    labelled = len({m.author_id for m in turns if m.role is Role.USER}) > 1
    speakers = [m.author_name for m in turns if m.role is Role.USER and m.author_name]
    system = {"role": "system", "content": render_system_prompt(system_template, speakers, today)}
    remaining = budget.prompt_tokens - estimator.estimate_text(budget.model, system["content"])
    picked: list[dict[str, str]] = []
    for message in reversed(turns):
        entry = _entry(message, labelled)
        cost = estimator.estimate_text(budget.model, entry["content"])
        if cost > remaining:
            break
        picked.append(entry)
        remaining -= cost
    if turns and not picked:
        raise LLMContextTooLong(
            f"last message alone exceeds the prompt budget of {budget.prompt_tokens} tokens",
            user_message="That message is too long for the model's context. Please shorten it.",
        )
    picked.reverse()
    return [system, *_drop_leading_assistant(picked)]


def _entry(message: ChatMessage, labelled: bool) -> dict[str, str]:
    content = message.content
    if labelled and message.role is Role.USER and message.author_name:
        content = f"[{message.author_name}] {content}"
    return {"role": message.role.value, "content": content}


def _drop_leading_assistant(entries: list[dict[str, str]]) -> list[dict[str, str]]:
    """Some servers insist the first non-system message is from the user."""
    start = 0
    while start < len(entries) and entries[start]["role"] == Role.ASSISTANT.value:
        start += 1
    return entries[start:]
