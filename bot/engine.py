"""The conversation engine: what every adapter calls.

An answer's life: ``accept`` stores the user's message, the reserved answer row and the job
that owes it in one transaction (only then may the platform be told "got it"); ``answer``
waits for the conversation's turn (one generation at a time per conversation, under a global
cap), shows the placeholder, builds the prompt from stored history, streams the completion into
the reply, and stores the outcome (complete, stopped or failed) while deleting the job. No
database transaction stays open while the reply streams. ``serve_work`` keeps the promise when
the process does not: checkpoints, leases and takeover (``bot.work``, ``bot.checkpoint``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from bot import branches, channel_context, features
from bot.attachments import Attachment
from bot.audit import entry as audit_entry
from bot.channel_settings import EffectiveSettings, apply_change, effective
from bot.checkpoint import Checkpoints
from bot.errors import BotError, SettingError, ShuttingDown, StoreError
from bot.files.notice import with_notice
from bot.files.policy import FilePolicy, VisionModels
from bot.files.question import Fetched, fetch_files
from bot.files.vision import VisionFallback
from bot.generation import Generation, GenerationOutcome, settle_start
from bot.governance import SETTING_NAMES as GOVERNED, Governance, GovernanceConfig, channel_value
from bot.llm.base import ChatModel, CompletionRequest
from bot.llm.userhash import user_hash
from bot.locks import KeyedLocks
from bot.metrics import Metrics
from bot.model import ChatMessage, ConversationKey, IncomingMessage, Role, TurnStatus, Usage
from bot.moderation import Moderator, QuestionFlagged, answer_check, check_question, replayable
from bot.params import GenerationParams
from bot.prompt import FileView, PromptBudget, build_prompt
from bot.redact import Redactor, redact_request, unredacting
from bot.reply.base import StreamedReply
from bot.store.ambient import SeenMessage
from bot.store.base import JOB_QUEUED, ConversationStore, Job, MessageUpdate
from bot.textclean import scrub
from bot.tokens import TokenEstimator
from bot.work import DEFAULT_LEASE_SECONDS, WorkKeeper

logger = logging.getLogger(__name__)

CONTEXT_MESSAGES = 400
FINISH_ATTEMPTS = 8
LOOKUP_RETRIES = (0.2, 0.4, 0.8, 0.0)
EARLIER_POLL = 0.5
EARLIER_WAIT_BEATS = 9
"""How many heartbeats an answer waits for older owed ones (3 leases) before it goes on."""
INTERRUPTED_NOTICE = "interrupted by a restart; press Regenerate to try again"
_T = TypeVar("_T")
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
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    single_process: bool = False
    """SQLite: one process serves the database, so at start it takes over every job at once."""
    controls_open: bool = False
    """Whether anyone (not only the asker and admins) may press Stop and Regenerate."""
    governance: GovernanceConfig = field(default_factory=GovernanceConfig)
    """Access rules, quotas, flood control and prices (``bot.governance``)."""
    redactor: Redactor | None = None
    """What is replaced by placeholders before a prompt is sent (``bot.redact``); None: off."""
    moderator: Moderator | None = None
    """Checks questions and complete answers (``bot.moderation``); None: off."""
    files: FilePolicy = field(default_factory=FilePolicy)
    """Limits on attached files and which models are sent images (``bot.files``)."""


@dataclass(frozen=True, slots=True)
class TurnResult:
    """How one answer ended."""

    status: TurnStatus
    text: str
    message_id: int | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class Accepted:
    """A question stored with its reserved answer: from here on the answer is owed."""

    key: ConversationKey
    answer_id: int
    requester: str
    overrides: dict[str, Any]
    received: float
    attachments: tuple[Attachment, ...] = ()
    """The question's files, fetched in the answer's turn (not stored: a takeover names them
    as not fetched)."""


@dataclass(frozen=True, slots=True)
class Resume:
    """An interrupted answer's messages on the platform and its checkpointed text."""

    message_ids: list[str]
    text: str


class ReplyRebuilder(Protocol):
    """An adapter's way back to an answer's reply from the ``target`` it stored at acceptance;
    with ``resume``, the reply adopts the messages the interrupted answer already shows. None
    means nobody can be shown the answer any more (a console that went away): it is stored as
    failed without a request to the model."""

    def __call__(
        self, target: Mapping[str, Any], resume: Resume | None, /
    ) -> StreamedReply | None: ...


class StopResult(StrEnum):
    STOPPING = "stopping"
    NOT_RUNNING = "not running"
    NOT_ALLOWED = "not allowed"


@dataclass(frozen=True, slots=True)
class _Turn:
    """One answer being produced: its conversation, reserved row, requester, start time."""

    key: ConversationKey
    id: int
    user_id: str
    t0: float
    supersedes: int | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(slots=True)
class _Live:
    generations: dict[int, Generation] = field(default_factory=dict)
    by_key: dict[ConversationKey, int] = field(default_factory=dict)
    closing: bool = False
    waiting: int = 0
    settling: int = 0
    settled: asyncio.Event = field(default_factory=asyncio.Event)


class ConversationEngine:
    """Answers messages, keeps history, and owns per-conversation settings.

    An answer is owed from the moment ``accept`` stored it (with its job row, see
    ``bot.work``) until ``finish_job`` stores its final state; ``serve_work`` keeps this
    process's leases alive, checkpoints streaming text, and takes over answers whose process
    went away.
    """

    def __init__(
        self,
        store: ConversationStore,
        model: ChatModel,
        config: EngineConfig,
        *,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics or Metrics.off()
        self._vision = VisionModels(config.files.vision_models)
        self._model: ChatModel = VisionFallback(model, self._vision)
        self._config = config
        self._today = today
        self.governance = Governance(store, config.governance, clock, self.channel_overrides)
        self._locks = KeyedLocks()
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self._estimator = TokenEstimator()
        self._settings_cache: dict[ConversationKey, tuple[float, dict[str, Any]]] = {}
        self._live = _Live()
        self._metrics.watch(
            live_streams=lambda: len(self._live.generations),
            queued=lambda: self._live.waiting,
            leases=lambda: self._live.waiting + self._live.settling,
        )
        self._work = WorkKeeper(
            store, lease_seconds=config.lease_seconds, single_process=config.single_process
        )
        self._checkpoints = Checkpoints(store)
        self._rebuilders: dict[str, ReplyRebuilder] = {}
        self._platform_contexts: dict[str, contextvars.Context] = {}
        self._takeovers: set[asyncio.Task[None]] = set()
        self._write_failed_at = -1.0
        redactor = config.redactor
        outbound = redactor.redact_text if redactor is not None else None
        self._answer_check = answer_check(config.moderator, outbound)

    # -- accepting ------------------------------------------------------------------------

    async def accept(
        self,
        message: IncomingMessage,
        *,
        target: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        claims: Sequence[tuple[str, str]] = (),
    ) -> Accepted | None:
        """Store ``message`` with its reserved answer and the job that owes it.

        Only after this returns may the platform be told "got it". ``StoreError`` when the
        database cannot take it (the adapter refuses the event or tells the user); None when
        one of ``claims`` was already taken (a duplicate delivery).
        """
        received = time.perf_counter()  # the event's arrival, for the latency metrics
        if self._live.closing:
            raise ShuttingDown("shutting down")
        asked, options = branches.split(overrides)
        self._config.defaults.merged(asked)  # SettingError before anything is stored
        await self.governance.admit(message)  # Refused: access, flood control, a used-up quota
        overrides = asked | await self._branch(message.key, options)
        spec = self._work.spec(dict(target or {}), message.author_id, overrides)
        answer_id = await self._write(
            self._store.accept(message.key, _user_turn(message), spec, claims)
        )
        if answer_id is None:
            return None
        return Accepted(
            message.key,
            answer_id,
            message.author_id,
            dict(overrides or {}),
            received,
            message.attachments,
        )

    async def seen(self, message: IncomingMessage) -> None:
        """Keep a top-level channel message as context for later mentions, where the channel
        has ``channel_context`` on (nothing is kept elsewhere); failures are only logged."""
        channel = message.key.channel_key()
        try:
            if message.is_direct or not features.context_count(
                await self.channel_overrides(channel)
            ):
                return
            seen = SeenMessage(
                message.message_id,
                message.author_id,
                message.author_name,
                message.text,
                message.created_at,
            )
            await self._store.record_seen(channel, seen)
        except StoreError as exc:
            logger.warning("channel %s: message not kept as context: %s", channel, exc)

    async def channel_messages(
        self, channel: ConversationKey, limit: int, before: SeenMessage | None = None
    ) -> list[SeenMessage]:
        """The channel messages kept as context (``seen``), oldest first (shortcuts)."""
        return await self._store.recent_seen(channel, limit, before)

    async def _channel_context(
        self, key: ConversationKey, history: list[ChatMessage], model: str
    ) -> list[ChatMessage]:
        """The first question of a conversation with the channel's recent messages above it
        (``bot.channel_context``), where the channel has ``channel_context`` on."""
        count = features.context_count(await self.channel_overrides(key))
        question = channel_context.first_question(history) if count else None
        if question is None or not question.platform_message_ids:
            return history
        mark = SeenMessage(question.platform_message_ids[0], "", "", "", question.created_at)
        seen = await self._store.recent_seen(key.channel_key(), count, mark)
        text = channel_context.block(seen, lambda t: self._estimator.estimate_text(model, t))
        return channel_context.with_context(history, question, text)

    async def _branch(self, key: ConversationKey, options: dict[str, Any]) -> dict[str, Any]:
        """The turn options to store: a reply's platform message id becomes the replied-to
        answer's row id (``bot.branches``); anything else is dropped."""
        kept = {branches.SHORTCUT: True} if options.get(branches.SHORTCUT) else {}
        replied = options.get(branches.BRANCH_FROM)
        found = await self._store.find_message(key, str(replied)) if replied else None
        if found is None or found.role is not Role.ASSISTANT or found.id is None:
            return kept
        return kept | {branches.BRANCH: found.id}

    async def record(
        self, message: IncomingMessage, *, claims: Sequence[tuple[str, str]] = ()
    ) -> bool:
        """Store a message of a conversation the bot is in, without answering it; False for a
        duplicate delivery."""
        stored = await self._write(
            self._store.accept(message.key, _user_turn(message), None, claims)
        )
        return stored is not None

    async def _write(self, work: Awaitable[_T]) -> _T:
        """A write whose failure makes the process unhealthy until one succeeds again."""
        try:
            return await work
        except StoreError:
            self._write_failed_at = time.monotonic()
            raise

    # -- answering ----------------------------------------------------------------------

    async def answer(self, accepted: Accepted, reply: StreamedReply) -> TurnResult:
        """Stream the answer ``accept`` reserved into ``reply``, in the conversation's turn."""
        if self._config.supersede:
            await self.stop(accepted.key)
        turn = _Turn(
            accepted.key,
            accepted.answer_id,
            accepted.requester,
            accepted.received,
            attachments=accepted.attachments,
        )
        return await self._answer(turn, reply, accepted.overrides)

    async def handle(
        self,
        message: IncomingMessage,
        reply: StreamedReply,
        *,
        overrides: Mapping[str, Any] | None = None,
        target: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        """``accept`` then ``answer``: for callers that need no acknowledgement in between."""
        accepted = await self.accept(message, target=target, overrides=overrides)
        if accepted is None:  # only claims can make it a duplicate, and none were given
            raise StoreError("the message was already stored")
        return await self.answer(accepted, reply)

    async def regenerate(
        self,
        key: ConversationKey,
        reply: StreamedReply,
        *,
        user_id: str,
        message_id: str | None = None,
        can_admin: bool = False,
        target: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        """Answer the question of an answer again (the answer shown in platform message
        ``message_id``, else the latest); the previous answer is superseded.

        Refusals raise ``SettingError`` before ``reply`` is touched, so the clicked message
        stays as it was: only the latest answer since the last reset can be regenerated, only
        by its asker or an admin (unless ``controls_open``). One clicked while the answer
        still streams runs after it, in the conversation's turn, and supersedes it then.
        """
        await self.check_regenerate(
            key, user_id=user_id, message_id=message_id, can_admin=can_admin
        )
        answer = await self._regenerable(key, message_id)
        requester = answer.requester or user_id
        spec = self._work.spec(dict(target or {}), requester, supersedes=answer.id)
        answer_id = await self._write(self._store.reserve(key, spec))
        turn = _Turn(key, answer_id, requester, time.perf_counter(), answer.id)
        return await self._answer(turn, reply, None)

    async def check_regenerate(
        self,
        key: ConversationKey,
        *,
        user_id: str,
        message_id: str | None = None,
        can_admin: bool = False,
    ) -> None:
        """``SettingError`` if ``regenerate`` would refuse (before touching any message)."""
        answer = await self._regenerable(key, message_id)
        if not self._may_control(answer.requester, user_id, can_admin):
            raise SettingError(_only(answer.requester, "regenerate"))

    async def _regenerable(self, key: ConversationKey, message_id: str | None) -> ChatMessage:
        clicked = await self._answer_in(key, message_id) if message_id else None
        latest = await self._store.last_assistant_turn(key)
        clicked = clicked if message_id else latest
        if clicked is None or clicked.role is not Role.ASSISTANT:
            raise SettingError("There is no answer to regenerate in this conversation yet.")
        if latest is None or latest.id != clicked.id:
            raise SettingError(
                "Only the latest answer of a conversation can be regenerated, and not one from "
                "before a reset; ask again instead."
            )
        return clicked

    async def stop(self, key: ConversationKey) -> bool:
        """Stop the answer streaming in ``key`` in this process (console Ctrl-C, supersede)."""
        answer_id = self._live.by_key.get(key)
        generation = None if answer_id is None else self._live.generations.get(answer_id)
        if generation is None:
            return False
        generation.request_stop()
        return True

    async def stop_answer(
        self, key: ConversationKey, message_id: str, *, user_id: str, can_admin: bool = False
    ) -> StopResult:
        """Stop the answer shown in platform message ``message_id``, on whichever process
        writes it (locally at once; elsewhere through its job row, polled about once a second)."""
        answer = await self._answer_in(key, message_id)
        if answer is None or answer.role is not Role.ASSISTANT or answer.id is None:
            return StopResult.NOT_RUNNING
        if not self._may_control(answer.requester, user_id, can_admin):
            return StopResult.NOT_ALLOWED
        generation = self._live.generations.get(answer.id)
        if generation is not None:
            generation.request_stop()
            return StopResult.STOPPING
        if await self._store.request_stop(answer.id):
            self._work.wake()
            return StopResult.STOPPING
        return StopResult.NOT_RUNNING

    async def _answer_in(self, key: ConversationKey, message_id: str) -> ChatMessage | None:
        """The stored message holding ``message_id``. A click can arrive a moment before the
        message's id is stored (checkpoints run twice a second), so look a few times."""
        for pause in LOOKUP_RETRIES:
            found = await self._store.find_message(key, message_id)
            if found is not None or not pause:
                return found
            await asyncio.sleep(pause)
        return None

    async def requester_of(self, key: ConversationKey, message_id: str) -> str:
        """Who asked for the answer shown in platform message ``message_id`` ("" if unknown)."""
        answer = await self._store.find_message(key, message_id)
        return answer.requester if answer is not None else ""

    def _may_control(self, requester: str, user_id: str, can_admin: bool) -> bool:
        return self._config.controls_open or can_admin or not requester or requester == user_id

    def _stop_requested(self, answer_ids: list[int]) -> None:
        for answer_id in answer_ids:
            generation = self._live.generations.get(answer_id)
            if generation is not None:
                generation.request_stop()

    async def close(self, finish_within: float = 10.0) -> None:
        """Graceful shutdown: take no new work, let live answers finish for ``finish_within``
        seconds, then end the rest visibly with a restart notice; queued answers stay queued
        (their leases are released, so the next process or another replica answers them)."""
        self._live.closing = True
        live = list(self._live.generations.values())
        if live:
            await asyncio.wait([asyncio.shield(g.done) for g in live], timeout=finish_within)
        live = list(self._live.generations.values())
        for generation in live:
            generation.request_shutdown()
        await asyncio.gather(*(asyncio.shield(g.done) for g in live))
        await self._settled()  # outcomes stored before any lease is given up
        for task in list(self._takeovers):
            task.cancel()
        await self._work.release()

    async def _settled(self) -> None:
        """Wait until no answer is between its turn's start and its stored outcome."""
        while self._live.settling:
            self._live.settled.clear()
            await self._live.settled.wait()

    async def _answer(
        self, turn: _Turn, reply: StreamedReply, overrides: Mapping[str, Any] | None
    ) -> TurnResult:
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

    async def _may_start(self, turn: _Turn, give_up_at: float) -> bool:
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
        self, turn: _Turn, reply: StreamedReply, overrides: Mapping[str, Any] | None
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
                settings = await self.settings_for(turn.key)
                asked, options = branches.split(overrides)
                params = settings.params.merged(asked)
                request, fetched = await self._request(turn, settings, params, options)
            except BotError as exc:
                logger.warning("conversation %s: cannot answer: %s", turn.key, exc)
                flagged = isinstance(exc, QuestionFlagged)  # stored with its notice
                return await self._fail_early(turn, reply, started, exc.user_message, flagged)
            return await self._generate(turn, with_notice(reply, fetched.notice), request, started)

    async def _start_job(self, turn: _Turn) -> bool | None:
        """Mark the job streaming; while the database is unreachable, wait and retry (the job
        stays owed; a closing process leaves it to the next one)."""
        while True:
            try:
                return await self._write(self._store.start_job(turn.id, self._work.owner))
            except StoreError as exc:
                if self._live.closing:
                    return None
                logger.warning(
                    "conversation %s: cannot start answer %d: %s", turn.key, turn.id, exc
                )
                await asyncio.sleep(self._work.heartbeat)

    async def _settle_unstarted(self, turn: _Turn, status: TurnStatus) -> TurnResult:
        await self._finish(turn, MessageUpdate(status=status))
        self._count(turn.key, status)
        return TurnResult(status, "", turn.id)

    async def _fail_early(
        self,
        turn: _Turn,
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
        await self._finish(turn, update)
        self._count(turn.key, TurnStatus.FAILED)
        return TurnResult(TurnStatus.FAILED, "", turn.id, error=notice)

    async def _generate(
        self,
        turn: _Turn,
        reply: StreamedReply,
        request: CompletionRequest,
        started: asyncio.Future[None],
    ) -> TurnResult:
        model = unredacting(self._model, request)  # the model itself unless it was redacted
        shown = features.shows_reasoning(await self.channel_overrides(turn.key))
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
        turn: _Turn,
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
        await self.governance.check_request(turn.key, turn.user_id, estimate)
        hashed = user_hash(turn.key.platform, turn.user_id, self._config.user_salt)
        request = redact_request(
            self._config.redactor, CompletionRequest(messages, params, hashed, prompt.images)
        )
        await check_question(self._config.moderator, self._store, history, request.messages)
        return request, fetched

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
            extra=outcome.stored_extra(),
        )
        await self._finish(turn, update)
        self._count(turn.key, outcome.status)
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

    def _count(self, key: ConversationKey, status: TurnStatus) -> None:
        """One more answer ended with ``status`` (the metrics)."""
        self._metrics.answer_finished(key.platform, status.value)

    def _timed(self, turn: _Turn, outcome: GenerationOutcome) -> None:
        """Observe an answer's event → first text and event → final, once it is stored."""
        first = outcome.first_text_at
        self._metrics.answer_timed(
            turn.key.platform,
            None if first is None else first - turn.t0,
            time.perf_counter() - turn.t0,
        )

    async def _finish(self, turn: _Turn, update: MessageUpdate) -> None:
        """Store the final state and drop the job, retrying while the database is away: a job
        left behind would later be "taken over" and its finished answer marked interrupted."""
        for attempt in range(FINISH_ATTEMPTS):
            try:
                await self._write(self._store.finish_job(turn.id, update))
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

    # -- taking over ----------------------------------------------------------------------

    def serve_platform(self, platform: str, rebuild: ReplyRebuilder) -> None:
        """``platform`` is connected here: its owed answers may be taken over by this process.

        Taken-over answers run in a copy of the caller's context (``contextvars``), as the
        platform's own handlers do: an adapter may route its requests by context variables
        (the Discord adapter's REST base), which the heartbeat task does not carry.
        """
        self._rebuilders[platform] = rebuild
        self._platform_contexts[platform] = contextvars.copy_context()
        self._work.wake()

    def leave_platform(self, platform: str) -> None:
        self._rebuilders.pop(platform, None)
        self._platform_contexts.pop(platform, None)

    async def serve_work(self) -> None:
        """Until cancelled: renew leases, checkpoint streaming text, take over lapsed work."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._checkpoints.run())
            group.create_task(
                self._work.poll_stops(lambda: bool(self._live.generations), self._stop_requested)
            )
            group.create_task(
                self._work.run(
                    lambda: list(self._rebuilders), self._take_over, self._stop_requested
                )
            )

    async def take_over_now(self) -> None:
        """Run a heartbeat now and wait until every takeover started so far has ended.

        For a front end that runs alone and may exit at once (the console reading a short
        pipe): the answers its killed predecessor owed are closed before it reads input,
        instead of by a heartbeat its own exit would cancel.
        """
        await self._work.beat(list(self._rebuilders), self._take_over, self._stop_requested)
        while pending := [task for task in self._takeovers if not task.done()]:
            await asyncio.wait(pending)

    def _take_over(self, jobs: list[Job]) -> None:
        if self._live.closing:
            return
        by_key: dict[ConversationKey, list[Job]] = {}
        for job in jobs:
            by_key.setdefault(job.key, []).append(job)
        for key, owed in by_key.items():
            logger.info("conversation %s: taking over %d owed answer(s)", key, len(owed))
            served = self._platform_contexts.get(key.platform)
            task = asyncio.create_task(
                self._resume_all(owed),
                name=f"takeover-{key}",
                context=served.copy() if served is not None else None,
            )
            self._takeovers.add(task)
            task.add_done_callback(self._takeovers.discard)

    async def _resume_all(self, jobs: list[Job]) -> None:
        """Every job joins its conversation's queue at once, in answer order: a question
        accepted while they run waits behind all of them (not only behind the first)."""
        await asyncio.gather(*(self._resume_one(job) for job in jobs))

    async def _resume_one(self, job: Job) -> None:
        try:
            await self._resume(job)
        except BotError as exc:
            logger.warning(
                "conversation %s: answer %d not taken over: %s", job.key, job.answer_id, exc
            )

    async def _resume(self, job: Job) -> None:
        rebuild = self._rebuilders.get(job.key.platform)
        if rebuild is None:
            return
        turn = _Turn(job.key, job.answer_id, job.requester, time.perf_counter(), job.supersedes)
        fresh = job.state == JOB_QUEUED or not (job.message_ids or job.text)
        resume = None if fresh else Resume(list(job.message_ids), job.text)
        reply = rebuild(job.target, resume)
        if fresh and reply is not None:
            await self._answer(turn, reply, job.overrides)
            return
        async with self._locks.hold(job.key), self._store.conversation_lock(job.key):
            ids = list(job.message_ids)
            if reply is not None:
                try:
                    await reply.fail(INTERRUPTED_NOTICE)
                except BotError as exc:
                    logger.warning("could not end interrupted answer %d: %s", job.answer_id, exc)
                ids = reply.message_ids or ids
            update = MessageUpdate(
                content=job.text, status=TurnStatus.FAILED, platform_message_ids=ids
            )
            await self._finish(turn, update)
            self._count(job.key, TurnStatus.FAILED)
            logger.info("conversation %s: ended interrupted answer %d", job.key, job.answer_id)

    async def healthy(self) -> bool:
        """Whether the database answers and takes writes (every health endpoint uses this):
        the last heartbeat (a write) succeeded after the last failed write, and it answers now."""
        work = self._work
        recovered = work.healthy and work.last_ok > self._write_failed_at
        return recovered and not self._live.closing and await self._store.ping()

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
        overrides = await self.channel_overrides(key)
        return effective(self._config.defaults, self._config.system_prompt, overrides)

    async def channel_overrides(self, key: ConversationKey) -> dict[str, Any]:
        """The stored overrides of ``key``'s channel, cached like ``settings_for``."""
        channel = key.channel_key()
        cached = self._settings_cache.get(channel)
        if cached is None or cached[0] < time.monotonic():
            overrides = await self._store.get_settings(channel)
            cached = (time.monotonic() + SETTINGS_TTL, overrides)
            if len(self._settings_cache) >= SETTINGS_CACHE_SIZE:
                self._settings_cache.clear()
            self._settings_cache[channel] = cached
        return cached[1]

    async def change_setting(
        self, key: ConversationKey, name: str, raw: str, *, actor: str = ""
    ) -> EffectiveSettings:
        """Set (or with ``default`` clear) one channel setting, model or governance
        (``bot.governance``); ``SettingError`` if invalid. The change and its audit entry
        (``actor``, old and new value) are stored in one transaction."""
        channel = key.channel_key()
        current = await self._store.get_settings(channel)
        if name in GOVERNED or name in features.SETTING_NAMES:
            overrides = dict(current)
            overrides.pop(name, None)
            if raw.strip().lower() != "default":
                value = features.channel_value if name in features.SETTING_NAMES else channel_value
                overrides[name] = value(name, raw)
        else:
            overrides = apply_change(
                current,
                name,
                raw,
                defaults=self._config.defaults,
                context_tokens=self._config.context_tokens,
            )
        change = audit_entry(channel, actor, name, current.get(name), overrides.get(name))
        await self._store.change_settings(channel, overrides, change)
        self._settings_cache.pop(channel, None)
        return effective(self._config.defaults, self._config.system_prompt, overrides)

    async def usage_report(
        self, platform: str, workspace: str, days: int = 30, *, user_id: str | None = None
    ) -> str:
        """Token usage per user over the last ``days`` days, as plain text.

        With ``user_id`` only that user's own figures are shown (what a non-admin may see).
        """
        since = datetime.now(UTC) - timedelta(days=days)
        rows = await self._store.usage_by_user(platform, workspace, since)
        if user_id is not None:
            rows = [row for row in rows if row.subject == user_id]
        if not rows:
            whose = "by you " if user_id is not None else ""
            return f"No model usage recorded {whose}in the last {days} days."
        lines = [f"Usage over the last {days} days (requests, prompt + completion tokens):"]
        for row in rows[:20]:
            lines.append(
                f"{row.subject}: {row.requests} requests, "
                f"{row.prompt_tokens} + {row.completion_tokens} tokens"
            )
        return "\n".join(lines)


def _user_turn(message: IncomingMessage) -> ChatMessage:
    return ChatMessage(
        role=Role.USER,
        content=scrub(message.text),
        author_id=message.author_id,
        author_name=scrub(message.author_name),
        platform_message_ids=[message.message_id] if message.message_id else [],
        created_at=message.created_at,
        extra={"files": [a.describe() for a in message.attachments]} if message.attachments else {},
    )


def _only(requester: str, verb: str) -> str:
    return f"Only the person who asked (<@{requester}>) or an admin can {verb} this answer."


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


__all__ = [
    "Accepted",
    "ConversationEngine",
    "EngineConfig",
    "ReplyRebuilder",
    "Resume",
    "StopResult",
    "TurnResult",
]
