"""Usage ledger totals for ``threadline usage``: requests and tokens grouped by user, channel,
model or day, reported and estimated kept apart.

Decided here: a user or a channel is named with its platform and workspace (ids are only
unique there); models and days are counted across every platform. Days are UTC calendar days.
Estimated rows (``usage_ledger.estimated``: the endpoint reported no usage, Threadline counted
the characters) are summed separately, so a reader always sees which figures are billed ones.
Sums run in the database; the largest groups come first, days in calendar order.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.tables import UsageEntry, as_utc

GROUPINGS = ("user", "channel", "model", "day")


@dataclass(frozen=True, slots=True)
class UsageGroup:
    """Ledger totals of one user, channel, model or day."""

    group: str
    platform: str
    workspace: str
    requests: int
    estimated_requests: int
    prompt_tokens: int
    completion_tokens: int
    estimated_tokens: int
    """How many of ``prompt_tokens + completion_tokens`` are estimates."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def reported_tokens(self) -> int:
        return self.total_tokens - self.estimated_tokens

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {
            "total_tokens": self.total_tokens,
            "reported_tokens": self.reported_tokens,
        }


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Which ledger rows to total, and how to group them."""

    by: str
    since: datetime
    platform: str | None = None
    workspace: str | None = None


class UsageQueries:
    """``usage_totals`` for ``SqlConversationStore`` (a mixin over its transactions)."""

    _sqlite: bool

    def _tx(self, *, write: bool) -> AbstractAsyncContextManager[AsyncConnection]:
        raise NotImplementedError  # SqlConversationStore's transaction

    async def usage_totals(self, query: UsageQuery) -> list[UsageGroup]:
        """Totals per group of ``query.by`` since ``query.since``."""
        if query.by not in GROUPINGS:
            raise ValueError(f"usage can be grouped by {', '.join(GROUPINGS)}, not {query.by!r}")
        stmt = _statement(query, _group_column(query.by, self._sqlite))
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(stmt)).all()
        return [_group(row) for row in rows]


def _group_column(by: str, sqlite: bool) -> ColumnElement[Any]:
    columns = {"user": UsageEntry.user_id, "channel": UsageEntry.channel, "model": UsageEntry.model}
    if by in columns:
        return columns[by].expression
    if sqlite:  # UTC wall time is stored
        return func.date(UsageEntry.created_at)
    return func.to_char(func.timezone("UTC", UsageEntry.created_at), "YYYY-MM-DD")


def _statement(query: UsageQuery, group: ColumnElement[Any]) -> Select[Any]:
    tokens = UsageEntry.prompt_tokens + UsageEntry.completion_tokens
    estimated = UsageEntry.estimated.is_(True)
    per_place = query.by in ("user", "channel")
    platform = UsageEntry.platform if per_place else literal("")
    workspace = UsageEntry.workspace if per_place else literal("")
    total = func.sum(tokens)
    stmt = (
        select(
            group.label("grp"),
            platform.label("platform"),
            workspace.label("workspace"),
            func.count().label("requests"),
            func.sum(cast(case((estimated, 1), else_=0), Integer)).label("estimated_requests"),
            func.sum(UsageEntry.prompt_tokens).label("prompt"),
            func.sum(UsageEntry.completion_tokens).label("completion"),
            func.sum(case((estimated, tokens), else_=0)).label("estimated_tokens"),
        )
        .where(UsageEntry.created_at >= as_utc(query.since))
        .group_by(group, *((UsageEntry.platform, UsageEntry.workspace) if per_place else ()))
    )
    if query.platform is not None:
        stmt = stmt.where(UsageEntry.platform == query.platform)
    if query.workspace is not None:
        stmt = stmt.where(UsageEntry.workspace == query.workspace)
    if query.by == "day":
        return stmt.order_by(group)
    return stmt.order_by(total.desc(), group)


def _group(row: Any) -> UsageGroup:
    return UsageGroup(
        group=str(row.grp),
        platform=str(row.platform),
        workspace=str(row.workspace),
        requests=int(row.requests),
        estimated_requests=int(row.estimated_requests or 0),
        prompt_tokens=int(row.prompt or 0),
        completion_tokens=int(row.completion or 0),
        estimated_tokens=int(row.estimated_tokens or 0),
    )
