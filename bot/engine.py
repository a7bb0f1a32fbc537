"""The conversation engine: what every adapter calls.

``handle`` is the whole life of one answer: store the user's message, show that it was
accepted, wait for the conversation's turn (one generation at a time per conversation, under a
global cap), build the prompt from stored history, stream the completion into the reply, and
store the outcome: complete, stopped or failed. No database transaction stays open while the
reply streams.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.channel_settings import EffectiveSettings, apply_change, effective
from bot.errors import BotError, SettingError
from bot.generation import SHUTDOWN_NOTICE, Generation, GenerationOutcome, settle_start
from bot.llm.base import ChatModel, CompletionRequest
from bot.llm.userhash import user_hash
from bot.locks import KeyedLocks
from bot.model import ChatMessage, ConversationKey, IncomingMessage, Role, TurnStatus
from bot.params import GenerationParams
from bot.prompt import PromptBudget, build_messages
from bot.reply.base import StreamedReply
from bot.store.base import ConversationStore, MessageUpdate
from bot.tokens import TokenEstimator

logger = logging.getLogger(__name__)

CONTEXT_MESSAGES = 400
SETTINGS_TTL = 10.0
SETTINGS_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The engine's share of the settings."""

    defaults: GenerationParams
    system_prompt: str
    context_tokens: Callable[[str], int]
    max_concurrent: int = 32
    supersede: bool = False
    user_salt: str = ""


@dataclass(frozen=True, slots=True)
class TurnResult:
    """How one answer ended."""

    status: TurnStatus
    text: str
    message_id: int | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class _Turn:
    """One answer being produced: its conversation, reserved row, requester, start time."""

    key: ConversationKey
    id: int
    user_id: str
    t0: float
    started: asyncio.Future[None]
    supersedes: int | None = None


@dataclass(slots=True)
class _Live:
    generations: dict[ConversationKey, Generation] = field(default_factory=dict)
    closing: bool = False
    answers: Counter[str] = field(default_factory=Counter)


class ConversationEngine:
    """Answers messages, keeps history, and owns per-conversation settings."""

    def __init__(
        self,
        store: ConversationStore,
        model: ChatModel,
        config: EngineConfig,
        *,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self._store = store
        self._model = model
        self._config = config
        self._today = today
        self._locks = KeyedLocks()
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self._estimator = TokenEstimator()
        self._settings_cache: dict[ConversationKey, tuple[float, dict[str, Any]]] = {}
        self._live = _Live()

    # -- answering ----------------------------------------------------------------------

    async def handle(
        self,
        message: IncomingMessage,
        reply: StreamedReply,
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        """Store ``message`` and stream an answer to it into ``reply``."""
        received = time.perf_counter()
        self._config.defaults.merged(overrides or {})  # SettingError before anything is stored
        # The answer's row is reserved with its question, so history keeps arrival order.
        _, turn_id = await self._store.add_messages(
            message.key, [_user_turn(message), _pending_turn()]
        )
        if self._config.supersede:
            await self.stop(message.key)
        turn = _Turn(message.key, turn_id, message.author_id, received, _start(reply))
        return await self._answer(turn, reply, overrides)

    async def regenerate(
        self, key: ConversationKey, reply: StreamedReply, *, user_id: str
    ) -> TurnResult:
        """Answer the conversation's last user turn again; the previous answer is superseded."""
        last = await self._store.last_assistant_turn(key)
        if last is None or last.id is None:
            raise SettingError("There is no answer to regenerate in this conversation yet.")
        turn_id = await self._store.add_message(key, _pending_turn())
        turn = _Turn(key, turn_id, user_id, time.perf_counter(), _start(reply), last.id)
        return await self._answer(turn, reply, None)

    async def record(self, message: IncomingMessage) -> None:
        """Store a message of a conversation the bot is in, without answering it."""
        await self._store.add_message(message.key, _user_turn(message))

    async def stop(self, key: ConversationKey) -> bool:
        """Stop the answer being generated in ``key``; False if none is running here."""
        generation = self._live.generations.get(key)
        if generation is None:
            return False
        generation.request_stop()
        return True

    async def close(self) -> None:
        """Fail every live answer with a restart notice (graceful shutdown)."""
        self._live.closing = True
        live = list(self._live.generations.values())
        for generation in live:
            generation.request_shutdown()
        await asyncio.gather(*(asyncio.shield(g.done) for g in live))

    async def _answer(
        self, turn: _Turn, reply: StreamedReply, overrides: Mapping[str, Any] | None
    ) -> TurnResult:
        async with (
            self._locks.hold(turn.key),
            self._store.conversation_lock(turn.key),
            self._slots,
        ):
            if self._live.closing:
                return await self._fail_early(turn, reply, SHUTDOWN_NOTICE)
            try:
                if turn.supersedes is not None:  # after the answer it replaces was saved
                    superseded = MessageUpdate(status=TurnStatus.SUPERSEDED)
                    await self._store.update_message(turn.supersedes, superseded)
                settings = await self.settings_for(turn.key)
                params = settings.params.merged(overrides or {})
                request = await self._request(turn, settings, params)
            except BotError as exc:
                logger.warning("conversation %s: cannot answer: %s", turn.key, exc)
                return await self._fail_early(turn, reply, exc.user_message)
            return await self._generate(turn, reply, request)

    async def _fail_early(self, turn: _Turn, reply: StreamedReply, notice: str) -> TurnResult:
        """Close the reply and the reserved row when no request could be made."""
        await settle_start(turn.started)
        await reply.fail(notice)
        await self._store.update_message(turn.id, MessageUpdate(status=TurnStatus.FAILED))
        self._live.answers[TurnStatus.FAILED.value] += 1
        return TurnResult(TurnStatus.FAILED, "", turn.id, error=notice)

    async def _generate(
        self, turn: _Turn, reply: StreamedReply, request: CompletionRequest
    ) -> TurnResult:
        generation = Generation(self._model, request, reply, started=turn.started)
        self._live.generations[turn.key] = generation
        logger.debug("conversation %s: request ready in %.2f ms", turn.key, _ms_since(turn.t0))
        try:
            outcome = await generation.run()
        finally:
            self._live.generations.pop(turn.key, None)
        await self._settle(turn, request, outcome)
        return TurnResult(outcome.status, outcome.text, turn.id, outcome.error)

    async def _request(
        self, turn: _Turn, settings: EffectiveSettings, params: GenerationParams
    ) -> CompletionRequest:
        stored = await self._store.load_context(turn.key, CONTEXT_MESSAGES)
        history = [m for m in stored if m.id is not None and m.id < turn.id]
        budget = PromptBudget(
            params.model, self._config.context_tokens(params.model), params.max_tokens or 1024
        )
        messages = build_messages(
            settings.system_prompt, history, budget, self._estimator, self._today()
        )
        hashed = user_hash(turn.key.platform, turn.user_id, self._config.user_salt)
        return CompletionRequest(messages, params, hashed)

    async def _settle(
        self, turn: _Turn, request: CompletionRequest, outcome: GenerationOutcome
    ) -> None:
        model = request.params.model
        update = MessageUpdate(
            content=outcome.text,
            status=outcome.status,
            finish_reason=outcome.finish_reason,
            model=model,
            usage=outcome.usage,
            platform_message_ids=outcome.message_ids,
            extra={"alternatives": outcome.alternatives} if outcome.alternatives else {},
        )
        await self._store.update_message(turn.id, update)
        self._live.answers[outcome.status.value] += 1
        if outcome.usage is not None:
            await self._store.record_usage(turn.key, turn.user_id, model, outcome.usage)
            if outcome.usage.prompt_tokens:
                self._estimator.calibrate(model, request.messages, outcome.usage.prompt_tokens)
        logger.info(
            "conversation %s: answer %s (%d chars, finish=%s, %.0f ms)",
            turn.key,
            outcome.status.value,
            len(outcome.text),
            outcome.finish_reason or "-",
            _ms_since(turn.t0),
        )

    def stats(self) -> dict[str, float]:
        """Counters and gauges for metrics: live answers and answers by outcome."""
        figures: dict[str, float] = {"generations_active": len(self._live.generations)}
        for status in (TurnStatus.COMPLETE, TurnStatus.STOPPED, TurnStatus.FAILED):
            figures[f"answers_{status.value}_total"] = self._live.answers[status.value]
        return figures

    # -- history upkeep -----------------------------------------------------------------

    async def reset(self, key: ConversationKey) -> None:
        """Start a fresh context for the conversation (stored messages are kept for export)."""
        await self._store.reset(key)

    async def message_edited(self, key: ConversationKey, platform_id: str, text: str) -> bool:
        """A user edited a message on the platform; update it in history."""
        return await self._store.edit_message(key, platform_id, text)

    async def message_deleted(self, key: ConversationKey, platform_id: str) -> bool:
        """A message was deleted on the platform; remove it from history."""
        return await self._store.delete_message(key, platform_id)

    async def is_participating(self, key: ConversationKey) -> bool:
        """Whether the bot has answered in this conversation (so follow-ups need no mention)."""
        return await self._store.has_conversation(key)

    async def claim_event(self, platform: str, event_id: str) -> bool:
        """True the first time a platform event id is seen, across restarts and replicas."""
        return await self._store.claim_event(platform, event_id)

    async def feedback(self, key: ConversationKey, platform_id: str, value: int) -> bool:
        """Store a thumbs up (+1) or down (-1) on an answer."""
        return await self._store.set_feedback(key, platform_id, 1 if value > 0 else -1)

    async def export(self, key: ConversationKey) -> list[ChatMessage]:
        """The conversation's whole stored history."""
        return await self._store.export(key)

    # -- settings and usage -------------------------------------------------------------

    async def settings_for(self, key: ConversationKey) -> EffectiveSettings:
        """The settings the conversation's next answer uses (channel overrides applied).

        Channel overrides are cached for ``SETTINGS_TTL`` seconds: a change made here applies
        at once, one made by another replica within that time.
        """
        channel = key.channel_key()
        cached = self._settings_cache.get(channel)
        if cached is None or cached[0] < time.monotonic():
            overrides = await self._store.get_settings(channel)
            cached = (time.monotonic() + SETTINGS_TTL, overrides)
            if len(self._settings_cache) >= SETTINGS_CACHE_SIZE:
                self._settings_cache.clear()
            self._settings_cache[channel] = cached
        return effective(self._config.defaults, self._config.system_prompt, cached[1])

    async def change_setting(self, key: ConversationKey, name: str, raw: str) -> EffectiveSettings:
        """Set (or with ``default`` clear) one channel setting; ``SettingError`` if invalid."""
        channel = key.channel_key()
        overrides = apply_change(await self._store.get_settings(channel), name, raw)
        await self._store.set_settings(channel, overrides)
        self._settings_cache.pop(channel, None)
        return effective(self._config.defaults, self._config.system_prompt, overrides)

    async def usage_report(self, platform: str, workspace: str, days: int = 30) -> str:
        """Token usage per user over the last ``days`` days, as plain text."""
        since = datetime.now(UTC) - timedelta(days=days)
        rows = await self._store.usage_by_user(platform, workspace, since)
        if not rows:
            return f"No model usage recorded in the last {days} days."
        lines = [f"Usage over the last {days} days (requests, prompt + completion tokens):"]
        for row in rows[:20]:
            lines.append(
                f"{row.subject}: {row.requests} requests, "
                f"{row.prompt_tokens} + {row.completion_tokens} tokens"
            )
        return "\n".join(lines)


def _start(reply: StreamedReply) -> asyncio.Future[None]:
    """Show the placeholder while the request is prepared, not before (it is a round trip)."""
    return asyncio.ensure_future(reply.start())


def _user_turn(message: IncomingMessage) -> ChatMessage:
    return ChatMessage(
        role=Role.USER,
        content=message.text,
        author_id=message.author_id,
        author_name=message.author_name,
        platform_message_ids=[message.message_id] if message.message_id else [],
        created_at=message.created_at,
    )


def _pending_turn() -> ChatMessage:
    """The answer's row, reserved at acceptance so history keeps arrival order."""
    return ChatMessage(role=Role.ASSISTANT, content="", status=TurnStatus.STREAMING)


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


__all__ = ["ConversationEngine", "EngineConfig", "TurnResult"]
