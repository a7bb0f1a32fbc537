"""The audit log: every change of a channel's settings, access rules and quotas, with who made
it, where, when, and the old and new value; listed for admins (``audit``, ``threadline audit``).

Decided: values are recorded as the text a person would type (lists comma-separated, a removed
override as ``default``), so the log reads the same whatever the setting's stored form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.model import ConversationKey
from bot.store.governance_base import AuditEntry

DEFAULT = "default"
LISTED = 20


def entry(channel: ConversationKey, actor: str, name: str, old: Any, new: Any) -> AuditEntry:
    """The record of ``actor`` changing ``name`` in ``channel`` from ``old`` to ``new``."""
    return AuditEntry(
        platform=channel.platform,
        workspace=channel.workspace,
        channel=channel.channel,
        actor=actor,
        action=f"settings set {name}",
        old_value=shown(old),
        new_value=shown(new),
    )


def shown(value: Any) -> str:
    """A stored setting value as text (``default`` when there is no override)."""
    if value is None:
        return DEFAULT
    if isinstance(value, list):
        return ",".join(":".join(map(str, v)) if isinstance(v, list) else str(v) for v in value)
    return str(value)


def render(entries: Sequence[AuditEntry]) -> str:
    """Plain-text lines, newest first."""
    if not entries:
        return "No settings, access or quota changes recorded yet."
    lines = [f"Latest {len(entries)} change(s), newest first:"]
    for e in entries:
        when = e.created_at.strftime("%Y-%m-%d %H:%M UTC") if e.created_at else "?"
        where = (
            f"{e.platform}:{e.workspace}:{e.channel}"
            if e.workspace
            else f"{e.platform}:{e.channel}"
        )
        change = f"{_short(e.old_value)} → {_short(e.new_value)}"
        lines.append(f"{when}  {e.actor} in {where}: {e.action}: {change}")
    return "\n".join(lines)


def _short(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
