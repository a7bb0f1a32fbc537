"""ProgressiveReply behaviour on the fake platform, on virtual time."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

import pytest

from bot.errors import ReplyClosedError, SinkError, SinkRateLimited
from bot.reply.clock import FakeClock
from bot.reply.progressive import (
    EMPTY_ANSWER,
    INDICATOR,
    MAX_REPLACEMENTS,
    PLACEHOLDER,
    STOPPED_MARK,
    ProgressiveReply,
    ReplyStatus,
)
from bot.reply.retry import RETRY_WINDOW
from bot.reply.scheduler import RateScheduler
from tests.fakes.sink import FakePlatform, SinkCall
from tests.reply.conftest import MakeSink, assert_delivered, expected_text

MakeReply = Callable[..., ProgressiveReply]


async def _stream(reply: ProgressiveReply, clock: FakeClock, deltas: list[str], gap: float) -> None:
    for delta in deltas:
        await reply.append(delta)
        await clock.sleep(gap)


def _ok(platform: FakePlatform, kind: str | None = None) -> list[SinkCall]:
    return [c for c in platform.calls if c.outcome == "ok" and kind in (None, c.kind)]


async def test_start_posts_placeholder_at_once(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink())
    await reply.start()
    await reply.start()
    assert list(platform.messages.values()) == [PLACEHOLDER]
    assert clock.monotonic() == 0.0
    assert reply.message_ids == list(platform.messages)
    await reply.finish()
    assert platform.messages == {reply.message_ids[0]: EMPTY_ANSWER}


async def test_first_delta_is_shown_at_once_with_indicator(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink(min_edit_interval=5.0))
    await reply.start()
    await reply.append("Hello")
    await clock.sleep(0.001)
    first_edit = _ok(platform, "edit")[0]
    assert first_edit.started == 0.0
    assert first_edit.text == "Hello" + INDICATOR
    await reply.finish()
    assert_delivered(platform, reply, "Hello")


async def test_intermediate_states_coalesce_and_latest_text_wins(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink(min_edit_interval=1.0, edits_per_minute=600.0))
    await reply.start()
    deltas = [f"w{index} " for index in range(200)]
    await _stream(reply, clock, deltas, gap=0.05)
    await clock.sleep(1.5)  # one more interval: the latest text is shown while still open
    edits = _ok(platform, "edit")
    assert len(edits) <= 12  # 10 s of streaming at one edit per second, not 200 edits
    answer = "".join(deltas)
    for edit in edits:
        assert edit.text.endswith(INDICATOR)
        assert answer.startswith(edit.text.removesuffix(INDICATOR))
    assert edits[-1].text == answer + INDICATOR  # the last state seen while open
    starts = [edit.started for edit in edits]
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(starts[1:]))
    await reply.finish()
    assert_delivered(platform, reply, answer)


async def test_append_never_waits_for_the_platform(
    platform: FakePlatform,
    make_sink: MakeSink,
    make_reply: MakeReply,
    clock: FakeClock,
    scheduler: RateScheduler,
) -> None:
    sink = make_sink()
    reply = make_reply(sink)
    await reply.start()
    scheduler.scope(sink.limits).rate_limited(retry_after=300.0)
    for index in range(500):
        await reply.append(f"{index} ")
    assert clock.monotonic() == 0.0
    await reply.finish()
    assert clock.monotonic() >= 300.0
    assert_delivered(platform, reply, "".join(f"{index} " for index in range(500)))


@pytest.mark.parametrize("answer", ["", "   \n "], ids=["empty", "blank"])
async def test_empty_answer_finishes_as_no_answer(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, answer: str
) -> None:
    reply = make_reply(make_sink())
    await reply.append(answer)
    await reply.finish()
    assert_delivered(platform, reply, EMPTY_ANSWER)
    assert reply.status is ReplyStatus.FINISHED


async def test_fail_keeps_partial_text_and_closes_open_code_block(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink())
    await reply.start()
    partial = "Here is code:\n\n```python\nprint('hi')"
    await _stream(reply, clock, [partial[:10], partial[10:]], gap=0.5)
    await reply.fail("The model took too long to answer.")
    expected = partial + "\n```\n\n_⚠ The model took too long to answer._"
    assert_delivered(platform, reply, expected)
    assert reply.status is ReplyStatus.FAILED


async def test_stop_mid_stream_keeps_text_and_marks_it(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink())
    await reply.start()
    await _stream(reply, clock, ["Once upon ", "a time"], gap=0.3)
    stopped_at = clock.monotonic()
    await reply.stop()
    assert clock.monotonic() - stopped_at < 2.0  # one budget interval at most
    assert_delivered(platform, reply, "Once upon a time\n\n" + STOPPED_MARK)
    with pytest.raises(ReplyClosedError):
        await reply.append("more")


@pytest.mark.parametrize("close", ["finish", "fail", "stop"])
async def test_use_after_close_raises(
    make_sink: MakeSink, make_reply: MakeReply, close: str
) -> None:
    reply = make_reply(make_sink())
    await reply.append("text")
    await (reply.fail("x") if close == "fail" else getattr(reply, close)())
    with pytest.raises(ReplyClosedError):
        await reply.append("more")
    with pytest.raises(ReplyClosedError):
        await reply.finish()
    with pytest.raises(ReplyClosedError):
        await reply.fail("again")
    with pytest.raises(ReplyClosedError):
        await reply.stop()
    await reply.start()  # harmless after close


async def test_rollover_across_three_messages(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink(max_chars=200, latency=0.1))
    await reply.start()
    code = "\n".join(f"total += item_{n}" for n in range(12))
    answer = "First paragraph. " * 6 + "\n\n```python\n" + code + "\n```\n\nThe end. " * 3
    await _stream(reply, clock, [answer[i : i + 7] for i in range(0, len(answer), 7)], gap=0.2)
    await reply.finish()
    assert len(reply.message_ids) >= 3
    assert_delivered(platform, reply, answer)
    texts = platform.texts(reply.message_ids)
    assert all(len(text) <= 200 for text in texts)
    assert any(text.startswith("```python\n") for text in texts[1:])
    posts = [call.message_id for call in _ok(platform, "post")]
    assert posts == reply.message_ids  # continuation messages were posted in order


async def test_finalised_message_is_never_edited_again(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink(max_chars=120))
    await reply.start()
    answer = "word " * 200
    await _stream(reply, clock, ["word "] * 200, gap=0.1)
    await reply.finish()
    for message_id in reply.message_ids:
        calls = _ok(platform)
        mine = [call for call in calls if call.message_id == message_id]
        assert [call.final for call in mine][-1] is True
        finals = [index for index, call in enumerate(mine) if call.final]
        assert finals == [len(mine) - 1]
    assert_delivered(platform, reply, answer)


async def test_429_storm_ends_exact_and_honours_retry_after(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink(max_chars=300))
    await reply.start()
    platform.inject(SinkRateLimited(retry_after=4.0), kind="edit", times=8)
    answer = "".join(f"token{n} " for n in range(300))
    await _stream(reply, clock, [f"token{n} " for n in range(300)], gap=0.05)
    platform.inject(SinkRateLimited(retry_after=7.0), times=5)
    await reply.finish()
    assert_delivered(platform, reply, answer)
    assert platform.rate_limited == 13
    for refused, following in zip(platform.calls, platform.calls[1:], strict=False):
        if refused.outcome == "429":
            assert following.started >= refused.started + 4.0 - 1e-9


async def test_failure_mid_stream_recovers(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink())
    await reply.start()
    await _stream(reply, clock, ["partial "] * 5, gap=0.5)
    platform.inject(SinkError("500 internal error"), kind="edit", times=3)
    await _stream(reply, clock, ["more "] * 5, gap=0.5)
    await reply.finish()
    assert_delivered(platform, reply, "partial " * 5 + "more " * 5)
    assert platform.count("edit", "fault") == 3


async def test_message_gone_is_reposted_without_losing_text(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink())
    await reply.start()
    await _stream(reply, clock, ["kept "] * 3, gap=0.5)
    lost = reply.message_ids[0]
    platform.make_gone(lost)
    await _stream(reply, clock, ["text "] * 3, gap=0.5)
    await reply.finish()
    assert lost not in reply.message_ids
    assert_delivered(platform, reply, "kept " * 3 + "text " * 3)


async def test_give_up_is_bounded_and_logged(
    platform: FakePlatform,
    make_sink: MakeSink,
    make_reply: MakeReply,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reply = make_reply(make_sink())
    await reply.start()
    await reply.append("doomed")
    await clock.sleep(1.0)
    platform.fault = lambda call: SinkError("503 service unavailable")
    closed_at = clock.monotonic()
    with caplog.at_level(logging.ERROR, logger="bot.reply.progressive"):
        await reply.finish()
    assert clock.monotonic() - closed_at <= RETRY_WINDOW + 1.0
    assert not reply.delivered
    assert any("giving up" in record.getMessage() for record in caplog.records)


async def test_mass_mentions_are_sanitised(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply
) -> None:
    reply = make_reply(make_sink())
    await reply.append("ping @every")
    await reply.append("one and @here")
    await reply.finish()
    assert_delivered(platform, reply, expected_text("ping @everyone and @here"))
    assert "@everyone" not in "".join(platform.messages.values())


async def test_start_error_is_retried_in_the_background(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink())
    platform.inject(SinkError("502 bad gateway"), kind="post")
    await reply.start()
    assert platform.messages == {}
    await clock.sleep(5.0)
    assert list(platform.messages.values()) == [PLACEHOLDER]
    await reply.append("answer")
    await reply.finish()
    assert_delivered(platform, reply, "answer")


async def test_rate_limited_start_posts_later(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink())
    platform.inject(SinkRateLimited(retry_after=3.0), kind="post")
    await reply.start()
    assert platform.messages == {}
    await clock.sleep(3.5)
    assert list(platform.messages.values()) == [PLACEHOLDER]
    await reply.append("late but fine")
    await reply.finish()
    assert_delivered(platform, reply, "late but fine")


async def test_final_edit_goes_before_other_streams(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    busy = [make_reply(make_sink()) for _ in range(5)]
    closing = make_reply(make_sink())
    for reply in [*busy, closing]:
        await reply.start()
        await reply.append("first ")
    await clock.sleep(1.0)
    for reply in busy:
        await reply.append("second ")
    await closing.append("done")
    await clock.sleep(0.01)
    finished_at = clock.monotonic()
    await closing.finish()
    waited = clock.monotonic() - finished_at
    assert waited <= 60 / 50 / 0.9 + 1e-6  # at most one token interval, not six
    for reply in busy:
        await reply.finish()
    assert_delivered(platform, closing, "first done")


async def test_scopes_do_not_share_budgets(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    one = make_reply(make_sink(scope="channel-1", edits_per_minute=5.0, burst=1))
    two = make_reply(make_sink(scope="channel-2", edits_per_minute=5.0, burst=1))
    for reply in (one, two):
        await reply.start()
        await reply.append("hi")
    await clock.sleep(0.001)
    assert [call.started for call in _ok(platform, "edit")] == [0.0, 0.0]
    await asyncio.gather(one.finish(), two.finish())
    assert_delivered(platform, one, "hi")
    assert_delivered(platform, two, "hi")


async def test_edit_after_a_long_wait_carries_the_latest_text(
    platform: FakePlatform,
    make_sink: MakeSink,
    make_reply: MakeReply,
    clock: FakeClock,
    scheduler: RateScheduler,
) -> None:
    sink = make_sink()
    reply = make_reply(sink)
    await reply.start()
    await reply.append("a")
    await clock.sleep(2.0)
    await reply.append(" b")
    scheduler.scope(sink.limits).rate_limited(retry_after=10.0)
    await clock.sleep(0.001)  # the flusher is now queued for its turn with " b" pending
    for delta in (" c", " d", " e"):
        await clock.sleep(2.0)
        await reply.append(delta)
    await clock.sleep(10.0)
    edits = _ok(platform, "edit")
    assert [edit.text for edit in edits] == ["a" + INDICATOR, "a b c d e" + INDICATOR]
    await reply.finish()
    assert_delivered(platform, reply, "a b c d e")


async def test_messages_that_keep_vanishing_end_in_a_bounded_give_up(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    sink = make_sink()
    reply = make_reply(sink)
    await reply.start()

    def vanish(call: SinkCall) -> BaseException | None:
        if call.kind == "edit":
            platform.make_gone(call.message_id)
        return None

    platform.fault = vanish
    await _stream(reply, clock, ["again "] * 30, gap=1.0)
    await reply.finish()
    assert platform.count("post") <= 1 + MAX_REPLACEMENTS + 1
