"""Building the ``messages`` list for one completion: pure functions, no I/O.

The prompt is the system prompt (with ``{date}`` and ``{users}`` filled in) followed by as much
recent history as fits the model's context budget minus ``max_tokens``. When more than one
person speaks, each user turn is labelled with its author's name.

The history sent is well-formed, whatever is stored:

- only complete assistant turns are context (stopped, failed and superseded answers are left
  out), and never an empty or blank one (an answer that was only reasoning);
- an assistant turn must answer a user turn: one that follows another assistant turn (its
  question was deleted) or opens the history is dropped, so two assistant turns never follow
  each other and the first turn after the system prompt is a user turn;
- consecutive user turns are kept (several people talking, or an answer that failed).

When the prompt cannot fit, the error says which budget is the problem: ``max_tokens``
leaving no room, the system prompt alone, or the newest message alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from bot.errors import LLMContextTooLong
from bot.files.render import IMAGE_TOKENS, ImageRef, render_files
from bot.model import ChatMessage, Role, TurnStatus
from bot.params import MIN_PROMPT_TOKENS, usable_context
from bot.tokens import TokenEstimator


@dataclass(frozen=True, slots=True)
class PromptBudget:
    """How many prompt tokens a request may use."""

    model: str
    context_tokens: int
    max_tokens: int

    @property
    def prompt_tokens(self) -> int:
        return usable_context(self.context_tokens) - self.max_tokens


def usable_history(history: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The turns that may be replayed to the model, well-formed (see the module doc)."""
    kept: list[ChatMessage] = []
    for message in history:
        if message.role is Role.ASSISTANT and not _answers(message, kept):
            continue
        kept.append(message)
    return kept


def _answers(message: ChatMessage, before: list[ChatMessage]) -> bool:
    """Whether an assistant ``message`` is a usable answer to the turn kept just before it."""
    if message.status is not TurnStatus.COMPLETE or not message.content.strip():
        return False
    return bool(before) and before[-1].role is Role.USER


def render_system_prompt(template: str, speakers: Sequence[str], today: date) -> str:
    """Fill ``{date}`` and ``{users}``; other braces are left as they are."""
    names = ", ".join(dict.fromkeys(speakers)) or "unknown"
    return template.replace("{date}", today.isoformat()).replace("{users}", names)


@dataclass(frozen=True, slots=True)
class FileView:
    """How attached files are shown: whether the model sees images, and the bytes of images
    attached to the question being answered (sent even when too large to keep)."""

    sees_images: bool = False
    fresh: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prompt:
    """The ``messages`` of a request and the images sent with some of them (by index)."""

    messages: list[dict[str, str]]
    images: dict[int, tuple[tuple[str, str], ...]]


def build_messages(
    system_template: str,
    history: Sequence[ChatMessage],
    budget: PromptBudget,
    estimator: TokenEstimator,
    today: date,
) -> list[dict[str, str]]:
    """System prompt + the newest history that fits ``budget`` (the last message always)."""
    return build_prompt(system_template, history, budget, estimator, today).messages


def build_prompt(
    system_template: str,
    history: Sequence[ChatMessage],
    budget: PromptBudget,
    estimator: TokenEstimator,
    today: date,
    files: FileView | None = None,
) -> Prompt:
    """``build_messages`` with each user turn's files (``extra["files"]``) rendered: text as
    labelled blocks, images as parts for a model that sees (each counted as ``IMAGE_TOKENS``),
    else as notes."""
    view = files or FileView()
    turns = usable_history(history)
    labelled = len({m.author_id for m in turns if m.role is Role.USER}) > 1
    speakers = [m.author_name for m in turns if m.role is Role.USER and m.author_name]
    system = {"role": "system", "content": render_system_prompt(system_template, speakers, today)}
    remaining = _room_after_system(budget, estimator.estimate_text(budget.model, system["content"]))
    picked: list[tuple[dict[str, str], list[ImageRef]]] = []
    for message in reversed(turns):
        entry, images = _entry(message, labelled, view)
        cost = estimator.estimate_text(budget.model, entry["content"]) + IMAGE_TOKENS * len(images)
        if cost > remaining:
            if not picked:
                raise _message_too_long(budget, cost, remaining)
            break
        picked.append((entry, images))
        remaining -= cost
    picked.reverse()
    kept = _drop_leading_assistant(picked)
    parts = {
        i + 1: tuple((ref.name, ref.url) for ref in refs)
        for i, (_, refs) in enumerate(kept)
        if refs
    }
    return Prompt([system, *(entry for entry, _ in kept)], parts)


def _room_after_system(budget: PromptBudget, system_cost: int) -> int:
    """Prompt tokens left for history; ``LLMContextTooLong`` naming the budget that is short."""
    if budget.prompt_tokens < MIN_PROMPT_TOKENS:
        raise LLMContextTooLong(
            f"max_tokens {budget.max_tokens} leaves {budget.prompt_tokens} prompt tokens in the "
            f"{budget.context_tokens}-token context of {budget.model}",
            user_message=(
                f"max_tokens ({budget.max_tokens}) leaves no room for the conversation in the "
                f"model's {budget.context_tokens}-token context window. "
                "Lower max_tokens in the channel settings."
            ),
        )
    remaining = budget.prompt_tokens - system_cost
    if remaining <= 0:
        raise LLMContextTooLong(
            f"the system prompt (~{system_cost} tokens) exceeds the prompt budget of "
            f"{budget.prompt_tokens} tokens",
            user_message=(
                f"The system prompt alone (about {system_cost} tokens) does not fit the room "
                f"left for the prompt ({budget.prompt_tokens} tokens after max_tokens "
                f"{budget.max_tokens}). Shorten the system prompt or lower max_tokens."
            ),
        )
    return remaining


def _message_too_long(budget: PromptBudget, cost: int, room: int) -> LLMContextTooLong:
    return LLMContextTooLong(
        f"last message alone (~{cost} tokens) exceeds the {room} prompt tokens left",
        user_message=(
            f"That message is too long for the model's context (about {cost} tokens; "
            f"{room} fit beside the system prompt and max_tokens). Please shorten it."
        ),
    )


def _entry(
    message: ChatMessage, labelled: bool, view: FileView
) -> tuple[dict[str, str], list[ImageRef]]:
    content = message.content
    if labelled and message.role is Role.USER and message.author_name:
        content = f"[{message.author_name}] {content}"
    images: list[ImageRef] = []
    records = message.extra.get("files") if message.role is Role.USER else None
    if isinstance(records, list) and records:
        shown, images = render_files(records, sees=view.sees_images, fresh=view.fresh)
        content = f"{content}\n\n{shown}" if shown else content
    return {"role": message.role.value, "content": content}, images


def _drop_leading_assistant(
    entries: list[tuple[dict[str, str], list[ImageRef]]],
) -> list[tuple[dict[str, str], list[ImageRef]]]:
    """Cutting old history may leave an answer first; servers insist on a user turn first."""
    start = 0
    while start < len(entries) and entries[start][0]["role"] == Role.ASSISTANT.value:
        start += 1
    return entries[start:]
