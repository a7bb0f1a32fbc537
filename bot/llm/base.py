"""The ``ChatModel`` protocol the engine streams from, and the events it yields."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bot.model import Usage
from bot.params import GenerationParams


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One chat-completions request: the prompt plus generation parameters.

    ``user`` is already the stable, non-reversible hash of the platform user (never a raw id).
    """

    messages: list[dict[str, str]]
    params: GenerationParams
    user: str | None = None
    images: Mapping[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """Images sent with ``messages[i]`` as ``image_url`` parts: ``(name, data: URL)`` pairs."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of answer text for choice ``index``."""

    text: str
    index: int = 0


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of reasoning ("thinking") text; never part of the answer or of history."""

    text: str
    index: int = 0


@dataclass(frozen=True, slots=True)
class ChoiceFinished:
    """Choice ``index`` ended with ``finish_reason`` (stop, length, content_filter, ...)."""

    finish_reason: str
    index: int = 0


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Token usage for the whole request (sent once, near the end)."""

    usage: Usage


StreamEvent = TextDelta | ReasoningDelta | ChoiceFinished | UsageReport


class ChatModel(Protocol):
    """Something that answers chat-completions requests as a stream of events.

    ``stream`` raises ``bot.errors.LLMError`` subclasses. Retrying is its own business but only
    before the first event; once an event is yielded, a failure is raised, never retried.
    A stream that ends before every choice finished raises ``LLMProtocolError``.
    """

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]: ...

    async def complete(self, request: CompletionRequest) -> list[StreamEvent]:
        """Non-streaming mode: the whole answer as the same events, in one response."""
        ...
