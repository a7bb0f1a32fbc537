"""A reply target as stored with an owed answer, so any process can rebuild its reply."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.slack.sink import Target

FIELDS = ("workspace", "channel", "thread", "user", "user_team", "assistant")


def to_stored(target: Target) -> dict[str, Any]:
    """The target as JSON-ready values."""
    return {name: getattr(target, name) for name in FIELDS}


def from_stored(values: Mapping[str, Any]) -> Target:
    """The target back from ``to_stored``; unknown keys are ignored, missing ones default."""
    return Target(
        workspace=str(values.get("workspace") or ""),
        channel=str(values.get("channel") or ""),
        thread=str(values.get("thread") or ""),
        user=str(values.get("user") or ""),
        user_team=str(values.get("user_team") or ""),
        assistant=bool(values.get("assistant")),
    )
