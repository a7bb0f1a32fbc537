"""The usage report (``usage``): tokens and cost by user, by channel and by model.

Decided: the report covers the last 30 days of the workspace the command runs in; a person
who is not an admin sees only their own usage (by channel and model); an admin sees everyone,
or one user (``usage user U123``) or one channel (``usage channel C123``). Costs come from
``MODEL_PRICES``; usage of a model without a price is counted and marked "no price", and the
totals then say they leave it out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from bot.model import ConversationKey
from bot.pricing import Price, cost, usd
from bot.store.governance_base import GovernanceStore, SpendRow

DAYS = 30
SHOWN = 20


@dataclass(slots=True)
class Total:
    """Requests, tokens and known cost of a group of ledger rows."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)
    unpriced: bool = False

    def add(self, row: SpendRow, amount: Decimal | None) -> None:
        self.requests += row.requests
        self.prompt_tokens += row.prompt_tokens
        self.completion_tokens += row.completion_tokens
        if amount is None:
            self.unpriced = True
        else:
            self.cost += amount

    def line(self, name: str) -> str:
        money = usd(self.cost) + (" + unpriced usage" if self.unpriced and self.cost else "")
        money = "no price" if self.unpriced and not self.cost else money
        return (
            f"  {name}: {self.requests} requests, {self.prompt_tokens:,} in + "
            f"{self.completion_tokens:,} out tokens, {money}"
        )


@dataclass(frozen=True, slots=True)
class Filter:
    """Whose usage a report shows: one user, one channel, or (None, None) everyone."""

    user_id: str | None = None
    channel: str | None = None
    mine: bool = False
    """The report a person who is not an admin gets: their own usage (``user_id``)."""


async def report(
    store: GovernanceStore,
    prices: Mapping[str, Price],
    key: ConversationKey,
    now: datetime,
    which: Filter,
) -> str:
    """The plain-text usage report of ``key``'s workspace over the last ``DAYS`` days."""
    rows = await store.spend(
        key.platform,
        key.workspace,
        now - timedelta(days=DAYS),
        user_id=which.user_id,
        channel=which.channel,
    )
    scope = _scope(which)
    if not rows:
        return f"No model usage recorded {scope}in the last {DAYS} days."
    lines = [f"Usage over the last {DAYS} days{_title(scope)} (tokens in + out, cost):"]
    for name, by in GROUPS.items():
        lines.append(f"By {name}:")
        lines += _lines(_grouped(rows, prices, by))
    lines.append(_grouped(rows, prices, lambda r: "total")["total"].line("Total").strip())
    return "\n".join(lines)


GROUPS: dict[str, Callable[[SpendRow], str]] = {
    "user": lambda r: r.user_id,
    "channel": lambda r: r.channel,
    "model": lambda r: r.model,
}


def _title(scope: str) -> str:
    return f", {scope.strip()}" if scope else ""


def _scope(which: Filter) -> str:
    if which.mine:
        return "by you "
    if which.user_id is not None:
        return f"of {which.user_id} "
    if which.channel is not None:
        return f"in channel {which.channel} "
    return ""


def _grouped(
    rows: Iterable[SpendRow], prices: Mapping[str, Price], by: Callable[[SpendRow], str]
) -> dict[str, Total]:
    totals: dict[str, Total] = {}
    for row in rows:
        amount = cost(prices, row.model, row.prompt_tokens, row.completion_tokens)
        totals.setdefault(by(row), Total()).add(row, amount)
    return totals


def _lines(totals: dict[str, Total]) -> list[str]:
    ordered = sorted(
        totals.items(),
        key=lambda kv: (-kv[1].cost, -(kv[1].prompt_tokens + kv[1].completion_tokens), kv[0]),
    )
    shown = [total.line(name or "(direct)") for name, total in ordered[:SHOWN]]
    hidden = len(ordered) - SHOWN
    return shown + ([f"  … and {hidden} more"] if hidden > 0 else [])
