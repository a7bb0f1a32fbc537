"""An in-memory chat platform for ``MessageSink`` tests and benchmarks, on virtual time.

``FakePlatform`` holds the state every ``FakeSink`` shares: the messages, one token bucket per
rate scope (all sinks of a scope draw from it, like a Slack workspace's ``chat.update`` budget),
a log of every call, and the invariant violations it saw:

* a message over ``max_chars`` (refused with ``SinkError``, like Discord's 50035);
* two requests in flight for one message;
* an edit of a message after it was sent with ``final=True``;
* an empty text.

Faults: ``inject(exc, kind=..., times=...)`` queues exceptions for the next calls, ``fault`` is an
optional hook deciding per call, and ``make_gone(id)`` makes a message uneditable (deleted).
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import SinkError, SinkMessageGone, SinkRateLimited
from bot.reply.base import Role, SinkLimits, StreamLimits
from bot.reply.clock import Clock
from bot.reply.split import join_parts, state_at_end

_MASS_MENTION = re.compile(r"@(everyone|here)\b")


def neutralise_mentions(text: str) -> str:
    """Discord-like sanitising: break ``@everyone``/``@here`` with a zero-width space."""
    return _MASS_MENTION.sub("@\u200b\\1", text)


@dataclass(slots=True)
class SinkCall:
    """One post or edit as the platform saw it."""

    kind: str
    message_id: str
    text: str
    final: bool
    scope: str
    started: float
    ended: float | None = None
    outcome: str = "pending"


class FakeBucket:
    """A token bucket: ``capacity`` tokens, refilled at ``per_minute`` per minute."""

    def __init__(self, clock: Clock, per_minute: float, capacity: int) -> None:
        self._clock = clock
        self.rate = per_minute / 60.0
        self.capacity = float(max(1, capacity))
        self.tokens = self.capacity
        self._at = clock.monotonic()

    def take(self) -> float | None:
        """Take a token; return None, or the seconds until one is available (a 429)."""
        now = self._clock.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._at) * self.rate)
        self._at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


class FakePlatform:
    """Messages, per-scope budgets and the call log shared by ``FakeSink`` instances."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[SinkCall] = []
        self.violations: list[str] = []
        self.rate_limited = 0
        self.fault: Callable[[SinkCall], BaseException | None] | None = None
        self._messages: dict[str, str] = {}
        self._final: set[str] = set()
        self._gone: set[str] = set()
        self._inflight: set[str] = set()
        self._buckets: dict[str, FakeBucket] = {}
        self._injected: deque[tuple[str, BaseException]] = deque()
        self._ids = itertools.count(1)

    @property
    def messages(self) -> dict[str, str]:
        """Current platform state: message id → text, in posting order."""
        return dict(self._messages)

    def bucket(self, scope: str, per_minute: float, capacity: int) -> FakeBucket:
        if scope not in self._buckets:
            self._buckets[scope] = FakeBucket(self.clock, per_minute, capacity)
        return self._buckets[scope]

    def inject(self, exc: BaseException, *, kind: str = "any", times: int = 1) -> None:
        """Make the next ``times`` calls of ``kind`` ("post", "edit", "any") raise ``exc``."""
        self._injected.extend((kind, exc) for _ in range(times))

    def make_gone(self, message_id: str) -> None:
        """Delete a message: it leaves ``messages`` and edits of it raise ``SinkMessageGone``."""
        self._gone.add(message_id)
        self._messages.pop(message_id, None)

    def texts(self, message_ids: Iterable[str]) -> list[str]:
        return [self._messages[message_id] for message_id in message_ids]

    def joined(self, message_ids: Iterable[str]) -> str:
        """The texts of ``message_ids`` joined with the fence markers removed."""
        return join_parts(self.texts(message_ids))

    def problems(self, message_ids: Sequence[str], expected: str) -> list[str]:
        """What is wrong with a closed reply held by ``message_ids`` that should read
        ``expected``: platform violations, inexact text, unbalanced fences, bad final flags."""
        found = list(self.violations)
        missing = [message_id for message_id in message_ids if message_id not in self._messages]
        if missing or not message_ids:
            return [*found, f"messages missing: {missing or 'all'}"]
        texts = self.texts(message_ids)
        found.extend(_text_problems(texts, expected))
        for message_id in message_ids:
            found.extend(self._history_problems(message_id))
        return found

    def _history_problems(self, message_id: str) -> list[str]:
        calls = self.calls_for(message_id)
        ok = [call for call in calls if call.outcome == "ok"]
        found = [
            f"{message_id}: overlapping requests"
            for before, after in itertools.pairwise(calls)
            if before.ended is None or before.ended > after.started
        ]
        if not ok or not ok[-1].final or sum(call.final for call in ok) != 1:
            found.append(f"{message_id}: the last successful request is not its only final one")
        return found

    def calls_for(self, message_id: str) -> list[SinkCall]:
        return [call for call in self.calls if call.message_id == message_id]

    def count(self, kind: str, outcome: str = "ok") -> int:
        return sum(1 for call in self.calls if call.kind == kind and call.outcome == outcome)

    def new_id(self) -> str:
        return f"m{next(self._ids)}"

    def begin(self, call: SinkCall) -> None:
        """Record a call arriving; raise whatever the platform would answer with."""
        self.calls.append(call)
        if call.message_id in self._inflight:
            self._violate(call, "a second request while one is in flight")
        self._inflight.add(call.message_id)
        exc = self._take_fault(call)
        if exc is not None:
            self._refuse(call, exc, "fault")
        if call.kind == "edit" and call.message_id in self._gone:
            self._refuse(call, SinkMessageGone(f"{call.message_id} is gone"), "gone")
        if call.kind == "edit" and call.message_id in self._final:
            self._violate(call, "edited after its final edit")

    def refuse(self, call: SinkCall, exc: BaseException, outcome: str) -> None:
        self._refuse(call, exc, outcome)

    def complete(self, call: SinkCall) -> None:
        self._inflight.discard(call.message_id)
        call.ended, call.outcome = self.clock.monotonic(), "ok"
        if call.message_id not in self._gone:
            self._messages[call.message_id] = call.text
        if call.final:
            self._final.add(call.message_id)

    def appended(self, call: SinkCall) -> None:
        """Complete an append to a streamed message: its text grows by ``call.text``."""
        before = self._messages.get(call.message_id, "")
        self.complete(call)
        if call.message_id in self._messages:
            self._messages[call.message_id] = before + call.text

    def _take_fault(self, call: SinkCall) -> BaseException | None:
        if self._injected and self._injected[0][0] in ("any", call.kind):
            return self._injected.popleft()[1]
        return self.fault(call) if self.fault is not None else None

    def _refuse(self, call: SinkCall, exc: BaseException, outcome: str) -> None:
        self._inflight.discard(call.message_id)
        call.ended, call.outcome = self.clock.monotonic(), outcome
        if isinstance(exc, SinkRateLimited):
            self.rate_limited += 1
            call.outcome = "429"
        raise exc

    def _violate(self, call: SinkCall, what: str) -> None:
        self.violations.append(f"{call.kind} of {call.message_id} at {call.started:.3f}: {what}")


def _text_problems(texts: list[str], expected: str) -> list[str]:
    try:
        joined = join_parts(texts)
    except ValueError as exc:
        return [f"the parts do not join: {exc}"]
    found: list[str] = []
    if joined != expected:
        at = next(
            (i for i, (a, b) in enumerate(zip(joined, expected, strict=False)) if a != b), None
        )
        at = min(len(joined), len(expected)) if at is None else at
        found.append(f"joined text differs from the answer at character {at}")
    balanced = texts if state_at_end(expected, 0, None) is not None else [*texts, ""]
    for index, text in enumerate(balanced[:-1]):
        if state_at_end(text, 0, None) is not None:
            found.append(f"message {index} leaves a code fence open")
    return found


class FakeSink:
    """A ``MessageSink`` onto a ``FakePlatform``.

    ``SinkLimits`` tell the reply what to plan for; ``enforce_per_minute``/``enforce_burst``
    (default: the same numbers) are what the platform actually allows in the scope.
    ``count_posts`` makes posts draw from the budget too (Discord); by default only edits do
    (Slack's ``chat.update``). ``post_scope`` gives posts a budget of their own instead
    (Slack's ``chat.postMessage`` per channel): the sink declares it to the reply with
    ``posts_per_minute``/``post_burst`` and the platform enforces ``enforce_posts_per_minute``/
    ``enforce_post_burst`` (default: the same). ``whole_under_load`` is declared as given.
    ``latency`` is the virtual time each call takes. ``roles`` records each call's
    ``base.Role`` by message id, in order.
    """

    def __init__(
        self,
        platform: FakePlatform,
        *,
        scope: str = "T1",
        max_chars: int = 2000,
        edits_per_minute: float = 50.0,
        burst: int = 1,
        min_edit_interval: float = 1.0,
        enforce_per_minute: float | None = None,
        enforce_burst: int | None = None,
        count_posts: bool = False,
        latency: float = 0.0,
        sanitizer: Callable[[str], str] = neutralise_mentions,
        post_scope: str = "",
        posts_per_minute: float = 60.0,
        post_burst: int = 1,
        enforce_posts_per_minute: float | None = None,
        enforce_post_burst: int | None = None,
        whole_under_load: bool = False,
    ) -> None:
        self.platform = platform
        self._limits = SinkLimits(
            max_chars,
            scope,
            edits_per_minute,
            burst,
            min_edit_interval,
            post_scope=post_scope,
            posts_per_minute=posts_per_minute,
            post_burst=post_burst,
            whole_under_load=whole_under_load,
        )
        per_minute = edits_per_minute if enforce_per_minute is None else enforce_per_minute
        capacity = burst if enforce_burst is None else enforce_burst
        self._bucket = platform.bucket(scope, per_minute, capacity)
        self._post_bucket: FakeBucket | None = None
        if post_scope:
            self._post_bucket = platform.bucket(
                post_scope,
                posts_per_minute if enforce_posts_per_minute is None else enforce_posts_per_minute,
                post_burst if enforce_post_burst is None else enforce_post_burst,
            )
        self.roles: list[tuple[str, Role]] = []
        self._count_posts = count_posts
        self._latency = latency
        self._sanitizer = sanitizer
        self.posted: list[str] = []

    @classmethod
    def declaring(cls, platform: FakePlatform, limits: SinkLimits, **options: Any) -> FakeSink:
        """A sink that declares a real adapter's ``limits`` (``options``: what the platform
        enforces, the latency, the sanitizer)."""
        return cls(
            platform,
            scope=limits.rate_scope,
            max_chars=limits.max_chars,
            edits_per_minute=limits.edits_per_minute,
            burst=limits.burst,
            min_edit_interval=limits.min_edit_interval,
            post_scope=limits.post_scope,
            posts_per_minute=limits.posts_per_minute,
            post_burst=limits.post_burst,
            whole_under_load=limits.whole_under_load,
            **options,
        )

    @property
    def limits(self) -> SinkLimits:
        return self._limits

    @property
    def messages(self) -> dict[str, str]:
        """Current platform text of the messages this sink posted (deleted ones left out)."""
        current = self.platform.messages
        return {mid: current[mid] for mid in self.posted if mid in current}

    async def post(self, text: str, *, final: bool, last: bool = False) -> str:
        call = self._call("post", self.platform.new_id(), text, final)
        bucket = self._post_bucket or (self._bucket if self._count_posts else None)
        await self._serve(call, bucket)
        self.posted.append(call.message_id)
        self.roles.append((call.message_id, Role.of(final=final, last=last)))
        return call.message_id

    async def edit(self, message_id: str, text: str, *, final: bool, last: bool = False) -> None:
        call = self._call("edit", message_id, text, final)
        await self._serve(call, self._bucket)
        self.roles.append((message_id, Role.of(final=final, last=last)))

    def sanitize(self, text: str) -> str:
        return self._sanitizer(text)

    def _call(self, kind: str, message_id: str, text: str, final: bool) -> SinkCall:
        now = self.platform.clock.monotonic()
        return SinkCall(kind, message_id, text, final, self._limits.rate_scope, now)

    async def _serve(self, call: SinkCall, bucket: FakeBucket | None) -> None:
        self.platform.begin(call)
        if not call.text:
            self.platform.refuse(call, SinkError("50006: cannot send an empty message"), "empty")
        if len(call.text) > self._limits.max_chars:
            self.platform.violations.append(f"{call.kind} of {len(call.text)} characters")
            self.platform.refuse(call, SinkError("50035: content too long"), "too_long")
        if bucket is not None and (retry_after := bucket.take()) is not None:
            self.platform.refuse(call, SinkRateLimited(retry_after), "429")
        if self._latency > 0:
            await self.platform.clock.sleep(self._latency)
        self.platform.complete(call)


class FakeStreamSink(FakeSink):
    """A ``FakeSink`` that also streams natively (``StreamingSink``), like Slack's
    ``chat.startStream``/``appendStream``/``stopStream``: calls of kind "open", "append" and
    "close" on the same platform. The start and append budgets are enforced per
    ``stream_scope`` (429s like any other); a stream older than ``ttl`` is expired (appends
    raise ``SinkMessageGone``, the message stays editable); ``refuse_streams`` makes every
    open fail. ``stream_cut`` holds back a trailing ``@`` (a ping could still form).
    """

    def __init__(
        self,
        platform: FakePlatform,
        *,
        stream_scope: str = "S1",
        starts_per_minute: float = 20.0,
        start_burst: int = 6,
        appends_per_minute: float = 100.0,
        append_burst: int = 10,
        append_interval: float = 0.6,
        max_age: float = 240.0,
        ttl: float = 300.0,
        refuse_streams: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(platform, **options)
        self._stream_limits = StreamLimits(
            start_scope=f"{stream_scope}:start",
            starts_per_minute=starts_per_minute,
            start_burst=start_burst,
            append_scope=f"{stream_scope}:append",
            appends_per_minute=appends_per_minute,
            append_burst=append_burst,
            append_interval=append_interval,
            max_age=max_age,
        )
        self._starts = platform.bucket(f"{stream_scope}:start", starts_per_minute, start_burst)
        self._appends = platform.bucket(f"{stream_scope}:append", appends_per_minute, append_burst)
        self._ttl = ttl
        self._born: dict[str, float] = {}
        self.refuse_streams = refuse_streams

    @property
    def stream_limits(self) -> StreamLimits:
        return self._stream_limits

    def streams(self) -> bool:
        return not self.refuse_streams

    def stream_cut(self, text: str) -> int:
        return len(text) - 1 if text.endswith("@") else len(text)

    async def open_stream(self, text: str) -> str:
        call = self._call("open", self.platform.new_id(), self.sanitize(text), False)
        if self.refuse_streams:
            self.platform.begin(call)
            self.platform.refuse(call, SinkError("not_allowed", code="not_allowed"), "refused")
        await self._serve(call, self._starts)
        self.posted.append(call.message_id)
        self._born[call.message_id] = call.started
        return call.message_id

    async def append_stream(self, message_id: str, text: str) -> None:
        call = self._call("append", message_id, self.sanitize(text), False)
        self.platform.begin(call)
        if call.started - self._born[message_id] > self._ttl:
            self.platform.refuse(call, SinkMessageGone("message_not_in_streaming_state"), "gone")
        if (retry_after := self._appends.take()) is not None:
            self.platform.refuse(call, SinkRateLimited(retry_after), "429")
        self.platform.appended(call)

    async def close_stream(self, message_id: str, text: str, *, last: bool) -> None:
        call = self._call("close", message_id, self.sanitize(text), False)
        self.platform.begin(call)
        if (retry_after := self._starts.take()) is not None:
            self.platform.refuse(call, SinkRateLimited(retry_after), "429")
        self.platform.appended(call)
