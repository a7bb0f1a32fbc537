"""The native-stream phase of ``ProgressiveReply`` (``bot.reply.stream``), on virtual time.

One reply pipeline: the same reply streams a message natively while the sink and budgets allow,
then edits it; every call is planned by the scheduler and the platform ends up showing exactly
the answer, with the final buttons on its last message.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

from bot.errors import SinkError, SinkRateLimited
from bot.reply.base import Role
from bot.reply.clock import FakeClock
from bot.reply.progressive import STOPPED_MARK, ProgressiveReply
from bot.reply.scheduler import RateScheduler
from tests.fakes.sink import FakePlatform, FakeStreamSink
from tests.reply.conftest import assert_delivered


def stream_sink(platform: FakePlatform, **options: Any) -> FakeStreamSink:
    options.setdefault("burst", 8)
    options.setdefault("edits_per_minute", 40.0)
    options.setdefault("min_edit_interval", 1.2)
    return FakeStreamSink(platform, **options)


async def stream(
    reply: ProgressiveReply, clock: FakeClock, deltas: Sequence[str], gap: float = 0.2
) -> None:
    await reply.start()
    for delta in deltas:
        await reply.append(delta)
        await clock.sleep(gap)


def kinds(platform: FakePlatform, outcome: str = "ok") -> list[str]:
    return [call.kind for call in platform.calls if call.outcome == outcome]


async def test_an_answer_streams_natively_then_ends_with_one_exact_final_edit(
    platform: FakePlatform, scheduler: RateScheduler, clock: FakeClock
) -> None:
    sink = stream_sink(platform)
    reply = ProgressiveReply(sink, scheduler, clock)
    deltas = [f"word{i} " for i in range(40)]
    await stream(reply, clock, deltas)
    await reply.finish()
    assert_delivered(platform, reply, "".join(deltas))
    calls = kinds(platform)
    assert calls[0] == "open" and calls[-2:] == ["close", "edit"]
    assert "post" not in calls, "no placeholder: the stream opens with the first text"
    assert 5 <= calls.count("append") <= 14, "appends are paced (0.6 s), not one per delta"
    appends = [c.started for c in platform.calls if c.kind == "append"]
    assert all(b - a >= 0.6 - 1e-9 for a, b in itertools.pairwise(appends))
    assert sink.roles[-1][1] is Role.LAST
    assert reply.message_ids == [platform.calls[0].message_id]


async def test_no_start_token_means_the_answer_is_posted_and_edited(
    platform: FakePlatform, scheduler: RateScheduler, clock: FakeClock
) -> None:
    sink = stream_sink(platform, start_burst=2, starts_per_minute=1.0)
    replies = [ProgressiveReply(sink, scheduler, clock) for _ in range(3)]
    for index, reply in enumerate(replies):
        await reply.start()
        await reply.append(f"answer {index}")
    await clock.sleep(1.0)
    await asyncio.gather(*(reply.finish() for reply in replies))
    for index, reply in enumerate(replies):
        assert_delivered(platform, reply, f"answer {index}")
    assert kinds(platform).count("open") == 2
    assert kinds(platform).count("post") == 1, "the third found no start token and posted"
    assert platform.rate_limited == 0


async def test_a_refused_stream_posts_instead(
    platform: FakePlatform, scheduler: RateScheduler, clock: FakeClock
) -> None:
    sink = stream_sink(platform, refuse_streams=True)
    sink.refuse_streams = False  # streams() says yes; the platform still refuses the open
    platform.inject(SinkError("not_allowed", code="not_allowed"), kind="open")
    reply = ProgressiveReply(sink, scheduler, clock)
    await stream(reply, clock, ["Hello", " there"])
    await reply.finish()
    assert_delivered(platform, reply, "Hello there")
    assert kinds(platform, "fault") == ["open"]
    assert kinds(platform)[0] == "post"


async def test_a_429_on_append_pauses_and_the_text_goes_later(
    platform: FakePlatform, scheduler: RateScheduler, clock: FakeClock
) -> None:
    sink = stream_sink(platform)
    platform.inject(SinkRateLimited(2.0), kind="append")
    reply = ProgressiveReply(sink, scheduler, clock)
    deltas = [f"part{i} " for i in range(20)]
    await stream(reply, clock, deltas)
    await reply.finish()
    assert_delivered(platform, reply, "".join(deltas))
    limited = [c for c in platform.calls if c.outcome == "429"]
    assert [c.kind for c in limited] == ["append"]
    after = [
        c.started for c in platform.calls if c.kind == "append" and c.started > limited[0].started
    ]
    assert after and after[0] - limited[0].started >= 2.0


async def test_an_expired_stream_is_finished_by_edits_without_a_close(
    platform: FakePlatform, scheduler: RateScheduler, clock: FakeClock
) -> None:
    sink = stream_sink(platform, ttl=2.0)
    reply = ProgressiveReply(sink, scheduler, clock)
    deltas = [f"piece{i} " for i in range(30)]
    await stream(reply, clock, deltas)
    await reply.finish()
    assert_delivered(platform, reply, "".join(deltas))
    assert "gone" in [c.outcome for c in platform.calls if c.kind == "append"]
    assert "close" not in kinds(platform)
    assert kinds(platform).count("edit") >= 2, "edits carried on after the expiry"


async def test_an_answer_outgrowing_one_message_ends_the_stream_and_continues(
    platform: FakePlatform, scheduler: RateScheduler, clock: FakeClock
) -> None:
    sink = stream_sink(platform, max_chars=300)
    reply = ProgressiveReply(sink, scheduler, clock)
    deltas = [f"Sentence number {i:02d} here. " for i in range(40)]
    await stream(reply, clock, deltas, gap=0.1)
    await reply.finish()
    assert_delivered(platform, reply, "".join(deltas))
    closes = [c for c in platform.calls if c.kind == "close"]
    assert len(closes) == 1 and closes[0].text == "", "closed early, without text"
    assert len(reply.message_ids) > 1


async def test_an_old_stream_is_closed_and_edited(
    platform: FakePlatform, scheduler: RateScheduler, clock: FakeClock
) -> None:
    sink = stream_sink(platform, max_age=3.0)
    reply = ProgressiveReply(sink, scheduler, clock)
    deltas = [f"slow{i} " for i in range(20)]
    await stream(reply, clock, deltas, gap=0.5)
    await reply.finish()
    assert_delivered(platform, reply, "".join(deltas))
    close = next(c for c in platform.calls if c.kind == "close")
    assert close.started < 5.0, "closed at about max_age, not at the end"
    assert [c for c in platform.calls if c.kind == "edit" and c.started < close.started] == []


async def test_stop_closes_the_stream_without_the_rest_and_marks_it_stopped(
    platform: FakePlatform, scheduler: RateScheduler, clock: FakeClock
) -> None:
    sink = stream_sink(platform)
    reply = ProgressiveReply(sink, scheduler, clock)
    await stream(reply, clock, ["one ", "two ", "three "], gap=1.0)
    await reply.append("four")
    await reply.stop()
    assert_delivered(platform, reply, "one two three four\n\n" + STOPPED_MARK)
    close = next(c for c in platform.calls if c.kind == "close")
    assert close.text == ""


async def test_an_emoji_is_never_cut_between_appends(
    platform: FakePlatform, scheduler: RateScheduler, clock: FakeClock
) -> None:
    sink = stream_sink(platform, append_interval=0.0)
    reply = ProgressiveReply(sink, scheduler, clock)
    thumbs, skin = "\U0001f44d", "\U0001f3fd"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    flag = "\U0001f1eb\U0001f1f7"
    deltas = [
        "Great ",
        thumbs,
        skin + " and ",
        family[:2],
        family[2:4],
        family[4:],
        " ",
        flag[0],
        flag[1],
        "!",
    ]
    await stream(reply, clock, deltas, gap=0.5)
    await reply.finish()
    assert_delivered(platform, reply, "".join(deltas))
    pieces = [c.text for c in platform.calls if c.kind in ("open", "append")]
    starts = ("\U0001f3fd", "\u200d", "\U0001f469", "\U0001f467", flag[1])
    assert not [p for p in pieces if p.startswith(starts)], pieces


async def test_reasoning_before_text_shows_a_placeholder_instead_of_streaming(
    platform: FakePlatform, scheduler: RateScheduler, clock: FakeClock
) -> None:
    sink = stream_sink(platform)
    reply = ProgressiveReply(sink, scheduler, clock)
    await reply.start()
    await reply.reasoning("Let me think about this")
    await clock.sleep(1.0)
    await reply.append("The answer.")
    await reply.finish()
    assert_delivered(platform, reply, "The answer.")
    assert "open" not in kinds(platform)
    assert "Let me think" in platform.calls[0].text


async def test_a_held_back_tail_is_sent_when_the_answer_finishes(
    platform: FakePlatform, scheduler: RateScheduler, clock: FakeClock
) -> None:
    sink = stream_sink(platform)
    reply = ProgressiveReply(sink, scheduler, clock)
    await stream(reply, clock, ["mail me at name", "@"], gap=1.0)
    await reply.finish()
    assert_delivered(platform, reply, "mail me at name@")
    assert [c.text for c in platform.calls if c.kind == "close"] == ["@"]
