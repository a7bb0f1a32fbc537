"""The conversation engine: what every adapter calls, built from parts with one concept each.

An answer's life: ``accept`` stores the user's message, the reserved answer row and the job
that owes it in one transaction (``bot.acceptance``); ``answer`` runs it in the conversation's
turn, streams the completion into the reply and stores the outcome (``bot.turns``);
``serve_work`` keeps the promise when the process does not: checkpoints, leases and takeover
(``bot.takeover``, ``bot.work``, ``bot.checkpoint``). The parts share this process's answers in
flight (``bot.live``) and the settings (``bot.engine_config``); ``ConversationEngine.__init__``
builds them. The engine itself keeps Stop and Regenerate, shutdown, health, history upkeep,
channel settings and usage reports.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from bot import features
from bot.acceptance import Acceptance, Accepted
from bot.audit import entry as audit_entry
from bot.channel_settings import EffectiveSettings, apply_change, effective
from bot.checkpoint import Checkpoints
from bot.engine_config import EngineConfig
from bot.errors import SettingError, StoreError
from bot.governance import SETTING_NAMES as GOVERNED, Governance, channel_value
from bot.live import Live
from bot.llm.base import ChatModel
from bot.locks import KeyedLocks
from bot.metrics import Metrics
from bot.model import ChatMessage, ConversationKey, IncomingMessage, Role
from bot.reply.base import StreamedReply
from bot.store.ambient import SeenMessage
from bot.store.base import ConversationStore
from bot.takeover import ReplyRebuilder, Resume, Takeover
from bot.turns import CONTEXT_MESSAGES, Turn, TurnResult, TurnRunner
from bot.work import WorkKeeper

LOOKUP_RETRIES = (0.2, 0.4, 0.8, 0.0)
SETTINGS_TTL = 10.0
SETTINGS_CACHE_SIZE = 10_000


class StopResult(StrEnum):
    STOPPING = "stopping"
    NOT_RUNNING = "not running"
    NOT_ALLOWED = "not allowed"


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
        self._config = config
        self.governance = Governance(store, config.governance, clock, self.channel_overrides)
        self._settings_cache: dict[ConversationKey, tuple[float, dict[str, Any]]] = {}
        self._live = Live()
        self._metrics.watch(
            live_streams=lambda: len(self._live.generations),
            queued=lambda: self._live.waiting,
            leases=lambda: self._live.waiting + self._live.settling,
        )
        self._work = WorkKeeper(
            store, lease_seconds=config.lease_seconds, single_process=config.single_process
        )
        self._accepting = Acceptance(
            store,
            config,
            live=self._live,
            work=self._work,
            governance=self.governance,
            channel_overrides=self.channel_overrides,
        )
        self._turns, self._takeover = self._answering(store, model, today)

    def _answering(
        self, store: ConversationStore, model: ChatModel, today: Callable[[], date]
    ) -> tuple[TurnRunner, Takeover]:
        """The parts that run answers, sharing one set of conversation locks and checkpoints."""
        locks, checkpoints = KeyedLocks(), Checkpoints(store)
        turns = TurnRunner(
            store,
            model,
            self._config,
            live=self._live,
            work=self._work,
            checkpoints=checkpoints,
            locks=locks,
            governance=self.governance,
            settings_for=self.settings_for,
            channel_overrides=self.channel_overrides,
            metrics=self._metrics,
            today=today,
        )
        takeover = Takeover(
            store,
            live=self._live,
            work=self._work,
            checkpoints=checkpoints,
            locks=locks,
            turns=turns,
        )
        return turns, takeover

    # -- accepting ------------------------------------------------------------------------

    async def accept(
        self,
        message: IncomingMessage,
        *,
        target: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        claims: Sequence[tuple[str, str]] = (),
    ) -> Accepted | None:
        """Store ``message`` with its reserved answer and the job that owes it
        (``Acceptance.accept``); only after this returns may the platform be told "got it"."""
        return await self._accepting.accept(
            message, target=target, overrides=overrides, claims=claims
        )

    async def seen(self, message: IncomingMessage) -> None:
        """Keep a top-level channel message as context for later mentions
        (``Acceptance.seen``)."""
        await self._accepting.seen(message)

    async def channel_messages(
        self, channel: ConversationKey, limit: int, before: SeenMessage | None = None
    ) -> list[SeenMessage]:
        """The channel messages kept as context (``seen``), oldest first (shortcuts)."""
        return await self._store.recent_seen(channel, limit, before)

    async def record(
        self, message: IncomingMessage, *, claims: Sequence[tuple[str, str]] = ()
    ) -> bool:
        """Store a message of a conversation the bot is in, without answering it; False for a
        duplicate delivery."""
        return await self._accepting.record(message, claims=claims)

    # -- answering ----------------------------------------------------------------------

    async def answer(self, accepted: Accepted, reply: StreamedReply) -> TurnResult:
        """Stream the answer ``accept`` reserved into ``reply``, in the conversation's turn."""
        if self._config.supersede:
            await self.stop(accepted.key)
        turn = Turn(
            accepted.key,
            accepted.answer_id,
            accepted.requester,
            accepted.received,
            attachments=accepted.attachments,
        )
        return await self._turns.answer(turn, reply, accepted.overrides)

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
        roles: Sequence[str] = (),
        is_direct: bool = False,
    ) -> TurnResult:
        """Answer the question of an answer again (the answer shown in platform message
        ``message_id``, else the latest); the previous answer is superseded.

        Refusals raise ``SettingError`` before ``reply`` is touched, so the clicked message
        stays as it was: only the latest answer since the last reset can be regenerated, only
        by its asker or an admin (unless ``controls_open``), and only by someone the access
        rules admit in that channel (``roles``, ``is_direct`` as for a question). One clicked
        while the answer still streams runs after it, in the conversation's turn, and
        supersedes it then.
        """
        await self.check_regenerate(
            key,
            user_id=user_id,
            message_id=message_id,
            can_admin=can_admin,
            roles=roles,
            is_direct=is_direct,
        )
        answer = await self._regenerable(key, message_id)
        requester = answer.requester or user_id
        spec = self._work.spec(dict(target or {}), requester, supersedes=answer.id)
        answer_id = await self._live.write(self._store.reserve(key, spec))
        turn = Turn(key, answer_id, requester, time.perf_counter(), answer.id)
        return await self._turns.answer(turn, reply, None)

    async def check_regenerate(
        self,
        key: ConversationKey,
        *,
        user_id: str,
        message_id: str | None = None,
        can_admin: bool = False,
        roles: Sequence[str] = (),
        is_direct: bool = False,
    ) -> None:
        """``SettingError`` if ``regenerate`` would refuse (before touching any message)."""
        refusal = await self.governance.access_refusal(
            key, user_id, roles=roles, is_direct=is_direct
        )
        if refusal is not None:
            raise SettingError(refusal)
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
        self._takeover.cancel()
        await self._work.release()

    async def _settled(self) -> None:
        """Wait until no answer is between its turn's start and its stored outcome."""
        while self._live.settling:
            self._live.settled.clear()
            await self._live.settled.wait()

    # -- taking over ----------------------------------------------------------------------

    def serve_platform(self, platform: str, rebuild: ReplyRebuilder) -> None:
        """``platform`` is connected here: its owed answers may be taken over by this process
        (``Takeover.serve_platform``)."""
        self._takeover.serve_platform(platform, rebuild)

    def leave_platform(self, platform: str) -> None:
        self._takeover.leave_platform(platform)

    async def serve_work(self) -> None:
        """Until cancelled: renew leases, checkpoint streaming text, take over lapsed work."""
        await self._takeover.serve_work()

    async def take_over_now(self) -> None:
        """Run a heartbeat now and wait until every takeover started so far has ended
        (``Takeover.take_over_now``: the console, which may exit at once)."""
        await self._takeover.take_over_now()

    async def healthy(self) -> bool:
        """Whether the database answers and takes writes (every health endpoint uses this):
        the last heartbeat (a write) succeeded after the last failed write, and it answers now."""
        work = self._work
        recovered = work.healthy and work.last_ok > self._live.write_failed_at
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


def _only(requester: str, verb: str) -> str:
    return f"Only the person who asked (<@{requester}>) or an admin can {verb} this answer."


__all__ = [
    "CONTEXT_MESSAGES",
    "Accepted",
    "ConversationEngine",
    "EngineConfig",
    "ReplyRebuilder",
    "Resume",
    "StopResult",
    "TurnResult",
]
