"""Governance as the engine applies it: who may ask (``bot.access``), how often
(``bot.flood``), how much they may spend (``bot.quota``), and the per-channel settings that
change those rules (recorded in the audit log, ``bot.audit``).

``admit`` runs in ``ConversationEngine.accept`` before anything is stored or sent to the model
and raises ``Refused`` with the private sentence for the asker; ``check_request`` runs when the
prompt is built, with its estimated size. Checks run in order of cost: access (the channel's
cached overrides), then flood control and quotas (database counts, only when configured).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot import access, audit, flood, quota
from bot.errors import Refused, SettingError
from bot.model import ConversationKey, IncomingMessage
from bot.pricing import ACCEPTED, Price, parse_prices
from bot.quota import Quota, Quotas
from bot.store.governance_base import GovernanceStore

if TYPE_CHECKING:
    from bot.config import EnvReader

SETTING_NAMES = (*access.CHANNEL_SETTINGS, *quota.SETTING_NAMES)
"""The per-channel governance settings (besides the model settings of ``channel_settings``)."""

Overrides = Callable[[ConversationKey], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class GovernanceConfig:
    """The global rules, from the environment; the defaults govern nothing."""

    access: access.AccessRules = field(default_factory=access.AccessRules)
    quotas: Quotas = field(default_factory=Quotas)
    messages_per_minute: int = 0
    prices: dict[str, Price] = field(default_factory=dict)


def load_governance(env: EnvReader) -> GovernanceConfig:
    """Read the governance variables (one-line ``ConfigError`` for a bad one)."""

    def ids(name: str) -> frozenset[str]:
        return frozenset(access.parse_ids(env.text(name)))

    rules = access.AccessRules(
        allowed_users=ids("ALLOWED_USERS"),
        blocked_users=ids("BLOCKED_USERS"),
        allowed_channels=ids("ALLOWED_CHANNELS"),
        blocked_channels=ids("BLOCKED_CHANNELS"),
        allowed_roles=ids("ALLOWED_ROLES"),
        allowed_guilds=ids("ALLOWED_GUILDS"),
    )
    quotas = Quotas(
        *(
            env.integer(name.upper(), 0, low=0, high=quota.MAX_TOKENS)
            for name in quota.SETTING_NAMES
        )
    )
    return GovernanceConfig(
        access=rules,
        quotas=quotas,
        messages_per_minute=env.integer("USER_MESSAGES_PER_MINUTE", 0, low=0, high=10_000),
        prices=env.convert("MODEL_PRICES", {}, parse_prices, ACCEPTED),
    )


def channel_value(name: str, raw: str) -> Any:
    """The stored value of a per-channel governance setting; ``SettingError`` if invalid."""
    if name in access.CHANNEL_SETTINGS:
        return access.channel_value(name, raw)
    if name in quota.SETTING_NAMES:
        return quota.channel_value(name, raw)
    raise SettingError(f"Unknown setting {name!r}.")


def describe(overrides: Mapping[str, Any]) -> str:
    """The channel's governance overrides, one ``name = value`` line each ("" for none)."""
    return "\n".join(
        f"{name} = {audit.shown(overrides[name])}  (set for this channel)"
        for name in SETTING_NAMES
        if name in overrides
    )


class Governance:
    """The checks ``ConversationEngine`` runs before storing a question and before a request."""

    def __init__(
        self,
        store: GovernanceStore,
        config: GovernanceConfig,
        clock: Callable[[], datetime],
        overrides: Overrides,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._overrides = overrides

    async def admit(self, message: IncomingMessage) -> None:
        """``Refused`` when ``message`` may not be queued: access, flood, a used-up quota."""
        channel = await self._overrides(message.key.channel_key())
        refusal = access.refusal(self.config.access, channel, message)
        if refusal is not None:
            raise Refused(refusal)
        now = self.clock()
        limit = self.config.messages_per_minute
        await flood.check(self.store, message.key, message.author_id, limit, now)
        await self._within_quotas(message.key, message.author_id, channel, now, needed=0)

    async def access_refusal(
        self, key: ConversationKey, user_id: str, *, roles: Sequence[str], is_direct: bool
    ) -> str | None:
        """Why ``user_id`` may not have an answer made in ``key`` (Regenerate), or None: the
        same access rules a question meets, for the person who clicked."""
        channel = await self._overrides(key.channel_key())
        clicked = IncomingMessage(key, "", user_id, "", "", roles=tuple(roles), is_direct=is_direct)
        return access.refusal(self.config.access, channel, clicked)

    async def check_request(self, key: ConversationKey, user_id: str, estimate: int) -> None:
        """``Refused`` when a prompt of ``estimate`` tokens would go past a quota."""
        channel = await self._overrides(key.channel_key())
        await self._within_quotas(key, user_id, channel, self.clock(), needed=max(1, estimate))

    async def _within_quotas(
        self,
        key: ConversationKey,
        user_id: str,
        channel: Mapping[str, Any],
        now: datetime,
        *,
        needed: int,
    ) -> None:
        for limit in self.config.quotas.effective(channel):
            used = await self._used(limit, key, user_id, now)
            if used + needed > limit.limit or used >= limit.limit:
                raise Refused(quota.notice(limit, used, now, needed=needed))

    async def _used(self, limit: Quota, key: ConversationKey, user_id: str, now: datetime) -> int:
        since, _ = quota.window(limit.period, now)
        who = {"user_id": user_id} if limit.who == quota.USER else {"channel": key.channel}
        return await self.store.tokens_used(key.platform, key.workspace, since, **who)


__all__ = [
    "SETTING_NAMES",
    "Governance",
    "GovernanceConfig",
    "channel_value",
    "describe",
    "load_governance",
]
