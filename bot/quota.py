"""Token quotas per user and per channel, per UTC day and UTC month.

``QUOTA_USER_DAILY_TOKENS``, ``QUOTA_USER_MONTHLY_TOKENS``, ``QUOTA_CHANNEL_DAILY_TOKENS`` and
``QUOTA_CHANNEL_MONTHLY_TOKENS`` (0 = unlimited) are the defaults; a channel overrides each
with the setting of the same name in lower case. Decisions:

* What counts is the usage ledger (prompt + completion tokens of every answer, as the API
  reported them or as estimated), summed in the database, so every replica sees the same
  figure. A user's quota counts their usage in the whole workspace (every channel and DM); a
  channel's counts every user's usage in it and its threads.
* Windows are calendar periods in UTC: a day runs from 00:00 UTC, a month from the 1st.
* At acceptance a question is refused when a quota is already used up (``used >= limit``);
  before the request is sent, when the prompt's estimated size would take it past
  (``used + estimate > limit``). An answer that then runs over is charged in full: the check
  is before, the charge after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.errors import SettingError

DAILY, MONTHLY = "daily", "monthly"
USER, CHANNEL = "user", "channel"
SETTING_NAMES = tuple(
    f"quota_{who}_{period}_tokens" for who in (USER, CHANNEL) for period in (DAILY, MONTHLY)
)
MAX_TOKENS = 10**15


@dataclass(frozen=True, slots=True)
class Quota:
    """One limit: whose (user or channel), which period, how many tokens (0 = none)."""

    who: str
    period: str
    limit: int

    @property
    def setting(self) -> str:
        return f"quota_{self.who}_{self.period}_tokens"


@dataclass(frozen=True, slots=True)
class Quotas:
    """The global defaults (``QUOTA_*_TOKENS``)."""

    user_daily: int = 0
    user_monthly: int = 0
    channel_daily: int = 0
    channel_monthly: int = 0

    def effective(self, channel: Mapping[str, Any]) -> list[Quota]:
        """The limits in force in a channel (its overrides applied), unlimited ones left out."""
        defaults = {
            SETTING_NAMES[0]: self.user_daily,
            SETTING_NAMES[1]: self.user_monthly,
            SETTING_NAMES[2]: self.channel_daily,
            SETTING_NAMES[3]: self.channel_monthly,
        }
        found = []
        for name, default in defaults.items():
            value = channel.get(name, default)
            limit = value if isinstance(value, int) and value >= 0 else default
            if limit:
                _, who, period, _ = name.split("_")
                found.append(Quota(who, period, limit))
        return found


def window(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The UTC day or month holding ``now``: (start, reset)."""
    now = now.astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == DAILY:
        return day, day + timedelta(days=1)
    start = day.replace(day=1)
    reset = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, reset


def notice(quota: Quota, used: int, now: datetime, *, needed: int = 0) -> str:
    """The private sentence naming the quota and when it resets."""
    _, reset = window(quota.period, now)
    whose = "your" if quota.who == USER else "this channel's"
    what = f"{whose} {quota.period} quota of {quota.limit:,} tokens"
    when = f"It resets {_when(reset, now)}."
    if needed:
        return (
            f"This question (about {needed:,} tokens) would go past {what} ({used:,} used). {when}"
        )
    return f"{what[0].upper()}{what[1:]} is used up ({used:,} used). {when}"


def _when(reset: datetime, now: datetime) -> str:
    left = reset - now
    hours, minutes = divmod(int(left.total_seconds()) // 60, 60)
    stamp = reset.strftime("%Y-%m-%d %H:%M UTC")
    return f"at {stamp} (in {hours} h {minutes} min)" if left < timedelta(days=1) else f"on {stamp}"


def channel_value(name: str, raw: str) -> int:
    """A per-channel quota setting's stored value; ``SettingError`` if invalid."""
    try:
        value = int(raw.strip().replace(",", "").replace("_", ""))
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_TOKENS:
        raise SettingError(
            f"{name} must be a whole number of tokens ≥ 0 (0 = unlimited), or default."
        )
    return value


__all__ = ["SETTING_NAMES", "Quota", "Quotas", "channel_value", "notice", "window"]
