"""Running one answer's turn, from the conversation's queue to its stored outcome.

``TurnRunner.answer`` waits for the conversation's turn (one generation at a time per
conversation, in answer order, under a global cap), marks the job streaming, shows the
placeholder, builds the prompt from stored history, streams the completion into the reply
(``bot.generation``), and stores the outcome (complete, stopped or failed) while deleting the
job. No database transaction stays open while the reply streams.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot import branches, channel_context, features
from bot.attachments import Attachment
from bot.channel_settings import EffectiveSettings
from bot.checkpoint import Checkpoints
from bot.engine_config import EngineConfig
from bot.errors import BotError, StoreError
from bot.files.notice import with_notice
from bot.files.policy import VisionModels
from bot.files.question import Fetched, fetch_files
from bot.files.vision import VisionFallback
from bot.generation import Generation, GenerationOutcome, settle_start
from bot.governance import Governance, Overrides
from bot.live import Live
from bot.llm.base import ChatModel, CompletionRequest
from bot.llm.userhash import user_hash
from bot.locks import KeyedLocks
from bot.metrics import Metrics
from bot.model import ChatMessage, ConversationKey, TurnStatus, Usage
from bot.moderation import QuestionFlagged, answer_check, check_question, replayable
from bot.params import GenerationParams
from bot.prompt import FileView, PromptBudget, build_prompt
from bot.redact import redact_request, unredacting
from bot.reply.base import StreamedReply
from bot.store.ambient import SeenMessage
from bot.store.base import ConversationStore, MessageUpdate
from bot.tokens import TokenEstimator
from bot.work import WorkKeeper

logger = logging.getLogger(__name__)

CONTEXT_MESSAGES = 400
FINISH_ATTEMPTS = 8
EARLIER_POLL = 0.5
EARLIER_WAIT_BEATS = 9
"""How many heartbeats an answer waits for older owed ones (3 leases) before it goes on."""


@dataclass(frozen=True, slots=True)
class TurnResult:
    """How one answer ended."""

    status: TurnStatus
    text: str
    message_id: int | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class Turn:
    """One answer being produced: its conversation, reserved row, requester, start time."""

    key: ConversationKey
    id: int
    user_id: str
    t0: float
    supersedes: int | None = None
    attachments: tuple[Attachment, ...] = ()


class TurnRunner:
    """Runs each answer in its conversation's turn and stores how it ended."""

    def __init__(
        self,
        store: ConversationStore,
        model: ChatModel,
        config: EngineConfig,
        *,
        live: Live,
        work: WorkKeeper,
        checkpoints: Checkpoints,
        locks: KeyedLocks,
        governance: Governance,
        settings_for: Callable[[ConversationKey], Awaitable[EffectiveSettings]],
        channel_overrides: Overrides,
        metrics: Metrics,
        today: Callable[[], date],
    ) -> None:
        self._store = store
        self._vision = VisionModels(config.files.vision_models)
        self._model: ChatModel = VisionFallback(model, self._vision)
        self._config = config
        self._live = live
        self._work = work
        self._checkpoints = checkpoints
        self._locks = locks
        self._governance = governance
        self._settings_for = settings_for
        self._channel_overrides = channel_overrides
        self._metrics = metrics
        self._today = today
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self._estimator = TokenEstimator()
        redactor = config.redactor
        outbound = redactor.redact_text if redactor is not None else None
        self._answer_check = answer_check(config.moderator, outbound)

    async def answer(
        self, turn: Turn, reply: StreamedReply, overrides: Mapping[str, Any] | None
    ) -> TurnResult:
        """Stream ``turn``'s answer into ``reply`` once it is the conversation's turn."""
        self._live.waiting += 1
        acquired = False
        give_up_at = time.monotonic() + self._work.heartbeat * EARLIER_WAIT_BEATS
        try:
            while True:
                async with self._locks.hold(turn.key), self._store.conversation_lock(turn.key):
                    if await self._may_start(turn, give_up_at):
                        self._live.waiting -= 1
                        acquired = True
                        waited = time.perf_counter() - turn.t0
                        self._metrics.queue_waited(turn.key.platform, waited)
                        self._live.settling += 1
                        try:
                            return await self._in_turn(turn, reply, overrides)
                        finally:
                            self._live.settling -= 1
                            self._live.settled.set()
                self._work.wake()  # an older owed answer may need taking over first
                await asyncio.sleep(EARLIER_POLL)
        finally:
            if not acquired:
                self._live.waiting -= 1

    async def _may_start(self, turn: Turn, give_up_at: float) -> bool:
        """Answers go in order: not while an older answer of the conversation is still owed
        (say one a dead process held, not yet taken over). Past ``give_up_at`` it goes on."""
        if self._live.closing:
            return True
        try:
            earlier = await self._store.earlier_owed(turn.key, turn.id)
        except StoreError:
            return True  # _start_job deals with an unreachable database
        if earlier and time.monotonic() >= give_up_at:
            logger.warning(
                "conversation %s: answer %d goes ahead of older owed ones", turn.key, turn.id
            )
            return True
        return not earlier

    async def _in_turn(
        self, turn: Turn, reply: StreamedReply, overrides: Mapping[str, Any] | None
    ) -> TurnResult:
        if self._live.closing:
            return TurnResult(TurnStatus.QUEUED, "", turn.id)  # left for the next process
        stop_requested = await self._start_job(turn)
        if stop_requested is None:
            return TurnResult(TurnStatus.QUEUED, "", turn.id)  # another process owns it now
        if stop_requested:
            return await self._settle_unstarted(turn, TurnStatus.STOPPED)
        # The placeholder goes up only now, in the conversation's turn: a queued answer never
        # shows a message that the running answer's continuations would then overtake.
        # The global cap is taken after it, so the placeholder shows while a slot is awaited.
        started = asyncio.ensure_future(reply.start())
        async with self._slots:
            try:
                if turn.supersedes is not None:  # after the answer it replaces was saved
                    superseded = MessageUpdate(status=TurnStatus.SUPERSEDED)
                    await self._store.update_message(turn.supersedes, superseded)
                settings = await self._settings_for(turn.key)
                asked, options = branches.split(overrides)
                params = settings.params.merged(asked)
                request, fetched = await self._request(turn, settings, params, options)
            except BotError as exc:
                logger.warning("conversation %s: cannot answer: %s", turn.key, exc)
                flagged = isinstance(exc, QuestionFlagged)  # stored with its notice
                return await self._fail_early(turn, reply, started, exc.user_message, flagged)
            return await self._generate(turn, with_notice(reply, fetched.notice), request, started)

    async def _start_job(self, turn: Turn) -> bool | None:
        """Mark the job streaming; while the database is unreachable, wait and retry (the job
        stays owed; a closing process leaves it to the next one)."""
        while True:
            try:
                return await self._live.write(self._store.start_job(turn.id, self._work.owner))
            except StoreError as exc:
                if self._live.closing:
                    return None
                logger.warning(
                    "conversation %s: cannot start answer %d: %s", turn.key, turn.id, exc
                )
                await asyncio.sleep(self._work.heartbeat)

    async def _settle_unstarted(self, turn: Turn, status: TurnStatus) -> TurnResult:
        await self.finish(turn, MessageUpdate(status=status))
        self.count(turn.key, status)
        return TurnResult(status, "", turn.id)

    async def _fail_early(
        self,
        turn: Turn,
        reply: StreamedReply,
        started: asyncio.Future[None],
        notice: str,
        keep_notice: bool = False,
    ) -> TurnResult:
        """Close the reply and the reserved row when no request could be made (the row's
        content is the notice with ``keep_notice``: a question moderation withheld)."""
        await settle_start(started)
        try:
            await reply.fail(notice)
        except BotError as exc:
            logger.warning("could not show the failure: %s", exc)
        update = MessageUpdate(
            content=notice if keep_notice else None,
            status=TurnStatus.FAILED,
            platform_message_ids=reply.message_ids,
        )
        await self.finish(turn, update)
        self.count(turn.key, TurnStatus.FAILED)
        return TurnResult(TurnStatus.FAILED, "", turn.id, error=notice)

    async def _generate(
        self,
        turn: Turn,
        reply: StreamedReply,
        request: CompletionRequest,
        started: asyncio.Future[None],
    ) -> TurnResult:
        model = unredacting(self._model, request)  # the model itself unless it was redacted
        shown = features.shows_reasoning(await self._channel_overrides(turn.key))
        generation = Generation(
            model, request, reply, started=started, check=self._answer_check, show_reasoning=shown
        )
        self._live.generations[turn.id] = generation
        self._live.by_key[turn.key] = turn.id
        self._checkpoints.watch(turn.id, generation, reply)
        logger.debug("conversation %s: request ready in %.2f ms", turn.key, _ms_since(turn.t0))
        try:
            outcome = await generation.run()
        finally:
            self._checkpoints.forget(turn.id)
            self._live.generations.pop(turn.id, None)
            if self._live.by_key.get(turn.key) == turn.id:
                del self._live.by_key[turn.key]
        await self._settle(turn, request, outcome)
        return TurnResult(outcome.status, outcome.text, turn.id, outcome.error)

    async def _request(
        self,
        turn: Turn,
        settings: EffectiveSettings,
        params: GenerationParams,
        options: Mapping[str, Any] | None = None,
    ) -> tuple[CompletionRequest, Fetched]:
        stored = await self._store.load_context(turn.key, CONTEXT_MESSAGES)
        history = [m for m in stored if m.id is not None and m.id < turn.id]
        branch = branches.branch_point(options or {})
        if branch is not None:
            history = branches.branch_history(history, branch, turn.user_id)
        history = replayable(history)
        if not (options or {}).get(branches.SHORTCUT):  # a shortcut brings its own material
            history = await self._channel_context(turn.key, history, params.model)
        fetched = await fetch_files(self._store, history, turn.attachments, self._config.files)
        budget = PromptBudget(
            params.model, self._config.context_tokens(params.model), params.max_tokens or 1024
        )
        view = FileView(self._vision.sees(params.model), fetched.fresh)
        prompt = build_prompt(
            settings.system_prompt, history, budget, self._estimator, self._today(), view
        )
        messages = prompt.messages
        estimate = self._estimator.estimate_messages(params.model, messages)
        await self._governance.check_request(turn.key, turn.user_id, estimate)
        hashed = user_hash(turn.key.platform, turn.user_id, self._config.user_salt)
        request = redact_request(
            self._config.redactor, CompletionRequest(messages, params, hashed, prompt.images)
        )
        await check_question(self._config.moderator, self._store, history, request.messages)
        return request, fetched

    async def _channel_context(
        self, key: ConversationKey, history: list[ChatMessage], model: str
    ) -> list[ChatMessage]:
        """The first question of a conversation with the channel's recent messages above it
        (``bot.channel_context``), where the channel has ``channel_context`` on."""
        count = features.context_count(await self._channel_overrides(key))
        question = channel_context.first_question(history) if count else None
        if question is None or not question.platform_message_ids:
            return history
        mark = SeenMessage(question.platform_message_ids[0], "", "", "", question.created_at)
        seen = await self._store.recent_seen(key.channel_key(), count, mark)
        text = channel_context.block(seen, lambda t: self._estimator.estimate_text(model, t))
        return channel_context.with_context(history, question, text)

    async def _settle(
        self, turn: Turn, request: CompletionRequest, outcome: GenerationOutcome
    ) -> None:
        model = request.params.model
        update = MessageUpdate(
            content=outcome.text,
            status=outcome.status,
            finish_reason=outcome.finish_reason,
            model=model,
            usage=outcome.usage,
            platform_message_ids=outcome.message_ids,
            extra=outcome.stored_extra(),
        )
        await self.finish(turn, update)
        self.count(turn.key, outcome.status)
        self._timed(turn, outcome)
        if outcome.usage is not None:
            await self._store.record_usage(turn.key, turn.user_id, model, outcome.usage)
            self._metrics.tokens(
                model, outcome.usage.prompt_tokens, outcome.usage.completion_tokens, estimated=False
            )
            if outcome.usage.prompt_tokens and not request.images:  # images skew the ratio
                self._estimator.calibrate(model, request.messages, outcome.usage.prompt_tokens)
        elif outcome.text:  # the endpoint reported no usage: count it here, marked estimated
            estimate = Usage(
                self._estimator.estimate_messages(model, request.messages),
                self._estimator.estimate_text(model, outcome.text),
            )
            await self._store.record_usage(turn.key, turn.user_id, model, estimate, estimated=True)
            self._metrics.tokens(
                model, estimate.prompt_tokens, estimate.completion_tokens, estimated=True
            )
        logger.info(
            "conversation %s: answer %s (%d chars, finish=%s, %.0f ms)",
            turn.key,
            outcome.status.value,
            len(outcome.text),
            outcome.finish_reason or "-",
            _ms_since(turn.t0),
        )

    def count(self, key: ConversationKey, status: TurnStatus) -> None:
        """One more answer ended with ``status`` (the metrics)."""
        self._metrics.answer_finished(key.platform, status.value)

    def _timed(self, turn: Turn, outcome: GenerationOutcome) -> None:
        """Observe an answer's event → first text and event → final, once it is stored."""
        first = outcome.first_text_at
        self._metrics.answer_timed(
            turn.key.platform,
            None if first is None else first - turn.t0,
            time.perf_counter() - turn.t0,
        )

    async def finish(self, turn: Turn, update: MessageUpdate) -> None:
        """Store the final state and drop the job, retrying while the database is away: a job
        left behind would later be "taken over" and its finished answer marked interrupted."""
        for attempt in range(FINISH_ATTEMPTS):
            try:
                await self._live.write(self._store.finish_job(turn.id, update))
                return
            except StoreError as exc:
                logger.warning(
                    "conversation %s: cannot store answer %d (%s); attempt %d",
                    turn.key,
                    turn.id,
                    exc,
                    attempt + 1,
                )
                if self._live.closing:
                    return
                await asyncio.sleep(min(2**attempt, 10))
        logger.error("conversation %s: answer %d could not be stored", turn.key, turn.id)


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


__all__ = ["CONTEXT_MESSAGES", "Turn", "TurnResult", "TurnRunner"]
