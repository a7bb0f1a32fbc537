"""What the fake Slack remembers: messages (with native-stream state), calls, rate windows."""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    """One Web API call as the fake received it."""

    method: str
    args: dict[str, Any]
    token: str
    status: int = 200
    error: str = ""


@dataclass
class Message:
    """A message in a channel. Native streams accumulate ``streamed`` text."""

    channel: str
    ts: str
    text: str = ""
    user: str = ""
    bot_id: str = ""
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] = field(default_factory=list)
    markdown_text: str = ""
    streamed: str = ""
    stream_blocks: list[dict[str, Any]] = field(default_factory=list)
    streaming: bool = False
    stream_started: float = 0.0
    expired: bool = False
    edits: int = 0
    states: list[str] = field(default_factory=list)

    @property
    def visible_text(self) -> str:
        """The text a person sees: markdown blocks, else markdown_text, else streamed, else text."""
        markdown = [b.get("text", "") for b in self.blocks if b.get("type") == "markdown"]
        if markdown:
            return "".join(markdown)
        return self.markdown_text or self.streamed or self.text

    @property
    def action_ids(self) -> list[str]:
        """Buttons on the message (in blocks and in streamed ``blocks`` chunks)."""
        found: list[str] = []
        for block in [*self.stream_blocks, *self.blocks]:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                found.append(str(element.get("action_id")))
        return found

    def button_value(self, action_id: str) -> str:
        for block in [*self.stream_blocks, *self.blocks]:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == action_id:
                    return str(element.get("value"))
        raise KeyError(action_id)

    def as_event_message(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.visible_text}
        if self.user:
            data["user"] = self.user
        if self.bot_id:
            data["bot_id"] = self.bot_id
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.blocks:
            data["blocks"] = self.blocks
        return data

    def snapshot(self) -> None:
        self.states.append(self.visible_text)


class Timestamps:
    """Slack-style ``ts`` values, strictly increasing."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._base = int(time.time())

    def next(self) -> str:
        return f"{self._base}.{next(self._counter):06d}"


@dataclass
class Limit:
    per_minute: int
    retry_after: int


class RateLimiter:
    """Per-(workspace, method) sliding one-minute windows, plus scripted 429 bursts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.limits: dict[str, Limit] = {}
        self.bursts: dict[str, collections.deque[int]] = collections.defaultdict(collections.deque)
        self._windows: dict[tuple[str, str], collections.deque[float]] = collections.defaultdict(
            collections.deque
        )

    def check(self, team: str, method: str) -> int | None:
        """``None`` to allow the call, else the ``Retry-After`` seconds of a 429."""
        burst = self.bursts.get(method)
        if burst:
            return burst.popleft()
        limit = self.limits.get(method)
        if limit is None:
            return None
        window = self._windows[(team, method)]
        now = self._clock()
        while window and now - window[0] >= 60.0:
            window.popleft()
        if len(window) >= limit.per_minute:
            return limit.retry_after
        window.append(now)
        return None
