"""Fixtures and invariant checks for the progressive-reply tests (all on virtual time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.reply import split
from bot.reply.clock import FakeClock
from bot.reply.progressive import EMPTY_ANSWER, ProgressiveReply
from bot.reply.scheduler import RateScheduler
from tests.fakes.sink import FakePlatform, FakeSink, neutralise_mentions

MakeSink = Callable[..., FakeSink]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def platform(clock: FakeClock) -> FakePlatform:
    return FakePlatform(clock)


@pytest.fixture
def scheduler(clock: FakeClock) -> RateScheduler:
    return RateScheduler(clock)


@pytest.fixture
def make_sink(platform: FakePlatform) -> MakeSink:
    def make(**options: Any) -> FakeSink:
        return FakeSink(platform, **options)

    return make


@pytest.fixture
def make_reply(scheduler: RateScheduler, clock: FakeClock) -> Callable[..., ProgressiveReply]:
    def make(sink: FakeSink, **options: Any) -> ProgressiveReply:
        return ProgressiveReply(sink, scheduler, clock, **options)

    return make


def expected_text(answer: str) -> str:
    """What the platform must show after ``finish()`` for ``answer``."""
    return neutralise_mentions(answer) if answer.strip() else EMPTY_ANSWER


def fence_open_after(text: str) -> split.Fence | None:
    """The fence left open when ``text`` (a whole message) ends."""
    return split.state_at_end(text, 0, None)


def assert_delivered(platform: FakePlatform, reply: ProgressiveReply, expected: str) -> None:
    """The invariants every closed reply must satisfy on the fake platform."""
    ids = reply.message_ids
    assert ids, "the reply has no messages"
    assert split.join_parts(platform.texts(ids)) == expected
    assert platform.problems(ids, expected) == []
