"""One streamed completion, from request to a closed reply, with stop and shutdown.

The stream is consumed in its own task so a user's Stop (or a shutdown) can cancel it at once,
wherever the model is; the reply is then closed accordingly and the outcome reported to the
engine, which stores it. Choice 0 is the answer shown; other choices (``n > 1``) are kept as
alternatives; reasoning text is never part of the answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from enum import Enum
from typing import cast

from bot.errors import BotError, LLMError
from bot.llm.base import (
    ChatModel,
    ChoiceFinished,
    CompletionRequest,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    UsageReport,
)
from bot.model import TurnStatus, Usage
from bot.moderation import AnswerCheck, retract
from bot.reply.base import ShowsReasoning, StreamedReply

logger = logging.getLogger(__name__)

GENERIC_FAILURE = "Something went wrong while answering. Please try again."
SHUTDOWN_NOTICE = "Threadline is restarting; please ask again in a moment."
REASONING_ONLY = (
    "The model spent its whole answer on reasoning and gave no answer; try again, or ask an "
    "admin to raise max_tokens."
)
COLLAPSE_PARTS = 64


async def settle_start(starting: Awaitable[None]) -> None:
    """Await a reply's ``start()``; its failure is logged, the answer goes on."""
    try:
        await starting
    except BotError as exc:
        logger.warning("the reply could not show that the request was accepted: %s", exc)


class _Interrupt(Enum):
    STOP = "stop"
    SHUTDOWN = "shutdown"


@dataclass(slots=True)
class GenerationOutcome:
    """What the engine stores about a finished generation."""

    status: TurnStatus
    text: str
    finish_reason: str = ""
    usage: Usage | None = None
    message_ids: list[str] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    error: str = ""
    moderated_text: str = ""
    """The answer moderation withheld (``text`` is then the notice shown instead)."""
    first_text_at: float | None = None
    """``time.perf_counter()`` when the first answer text reached the reply (metrics)."""

    def stored_extra(self) -> dict[str, object]:
        """What is stored in the answer's ``extra``: other choices, a withheld text."""
        extra: dict[str, object] = {}
        if self.alternatives:
            extra["alternatives"] = self.alternatives
        if self.moderated_text:
            extra["moderated_text"] = self.moderated_text
        return extra


class Generation:
    """Streams one request into one reply; ``request_stop`` may be called at any time."""

    def __init__(
        self,
        model: ChatModel,
        request: CompletionRequest,
        reply: StreamedReply,
        *,
        started: Awaitable[None] | None = None,
        check: AnswerCheck | None = None,
        show_reasoning: bool = False,
    ) -> None:
        self._model = model
        self._show_reasoning = show_reasoning and isinstance(reply, ShowsReasoning)
        self._check = check
        self._starting = started
        self._request = request
        self._reply = reply
        self._task: asyncio.Task[None] | None = None
        self._interrupt: _Interrupt | None = None
        self._parts: list[str] = []
        self._alternatives: defaultdict[int, list[str]] = defaultdict(list)
        self._finish_reason = ""
        self._usage: Usage | None = None
        self._reasoned = False
        self._size = 0
        self._first_text_at: float | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def request_stop(self) -> None:
        self._cancel(_Interrupt.STOP)

    def request_shutdown(self) -> None:
        self._cancel(_Interrupt.SHUTDOWN)

    def _cancel(self, why: _Interrupt) -> None:
        if self._interrupt is None:
            self._interrupt = why
        if self._task is not None:
            self._task.cancel()

    async def run(self) -> GenerationOutcome:
        """Stream, close the reply, and say how it ended."""
        try:
            return await self._run()
        finally:
            if not self.done.done():
                self.done.set_result(None)

    async def _run(self) -> GenerationOutcome:
        self._task = asyncio.create_task(self._pump())
        if self._interrupt is not None:
            self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._interrupt is None or (current is not None and current.cancelling()):
                await self._close(self._reply.fail(SHUTDOWN_NOTICE))
                raise
            return await self._interrupted(self._interrupt)
        except LLMError as exc:
            logger.warning("completion failed: %s", exc)
            return await self._failed(exc.user_message)
        except BotError as exc:
            logger.warning("answer failed: %s", exc)
            return await self._failed(exc.user_message)
        except Exception:
            logger.exception("unexpected error while answering")
            return await self._failed(GENERIC_FAILURE)
        if self._reasoned and not self.text.strip():
            logger.warning("the model returned reasoning only (finish=%s)", self._finish_reason)
            return await self._failed(REASONING_ONLY)
        notice = await self._check(self.text) if self._check is not None else None
        if notice is not None:
            return await self._withheld(notice)
        await self._close(self._reply.finish())
        return self._outcome(TurnStatus.COMPLETE)

    @property
    def text(self) -> str:
        """The answer (choice 0) received so far."""
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    @property
    def size(self) -> int:
        """Characters of answer received so far (cheap: no join)."""
        return self._size

    async def _pump(self) -> None:
        async for event in self._model.stream(self._request):
            await self._on_event(event)

    async def _ready(self) -> None:
        """Wait for ``reply.start()`` (running while the request went out) before using it."""
        if self._starting is not None:
            starting, self._starting = self._starting, None
            await settle_start(starting)

    async def _on_event(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            if event.index == 0:
                if self._starting is not None:  # no coroutine per delta once started
                    await self._ready()
                if not self._size:  # one comparison per delta: the metrics' first text
                    self._first_text_at = time.perf_counter()
                self._parts.append(event.text)
                self._size += len(event.text)
                if len(self._parts) >= COLLAPSE_PARTS:  # one string costs less than many
                    self._parts = ["".join(self._parts)]
                await self._reply.append(event.text)
            else:
                self._alternatives[event.index].append(event.text)
        elif isinstance(event, ChoiceFinished):
            if event.index == 0:
                self._finish_reason = event.finish_reason
        elif isinstance(event, UsageReport):
            self._usage = event.usage
        elif isinstance(event, ReasoningDelta):
            self._reasoned = True  # never shown as the answer nor stored in history
            if self._show_reasoning and event.index == 0 and not self._size:
                await self._ready()
                await cast(ShowsReasoning, self._reply).reasoning(event.text)

    async def _interrupted(self, why: _Interrupt) -> GenerationOutcome:
        if why is _Interrupt.STOP:
            await self._close(self._reply.stop())
            return self._outcome(TurnStatus.STOPPED)
        return await self._failed(SHUTDOWN_NOTICE)

    async def _failed(self, notice: str) -> GenerationOutcome:
        await self._close(self._reply.fail(notice))
        return self._outcome(TurnStatus.FAILED, error=notice)

    async def _withheld(self, notice: str) -> GenerationOutcome:
        """Moderation flagged the complete answer: the reply shows ``notice`` instead."""
        await self._close(retract(self._reply, notice))
        outcome = self._outcome(TurnStatus.FAILED, error=notice)
        outcome.moderated_text, outcome.text = outcome.text, notice
        return outcome

    async def _close(self, closing: Awaitable[None]) -> None:
        """Await a reply-closing call; a platform failure here must not lose the outcome."""
        try:
            await self._ready()
            await closing
        except BotError as exc:
            logger.warning("could not deliver the final state of a reply: %s", exc)

    def _outcome(self, status: TurnStatus, *, error: str = "") -> GenerationOutcome:
        return GenerationOutcome(
            status=status,
            text=self.text,
            finish_reason=self._finish_reason,
            usage=self._usage,
            message_ids=list(self._reply.message_ids),
            alternatives=["".join(self._alternatives[i]) for i in sorted(self._alternatives)],
            error=error,
            first_text_at=self._first_text_at,
        )
