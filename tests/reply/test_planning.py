"""Planning every call against the sink's budgets: posts and edits apart, finals kept tokens,
continuations and whole answers under load, and each message's role (all on virtual time)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.reply.base import Role
from bot.reply.clock import FakeClock
from bot.reply.progressive import ProgressiveReply
from tests.fakes.sink import FakePlatform, FakeSink
from tests.reply.conftest import MakeSink, assert_delivered, expected_text

MakeReply = Callable[..., ProgressiveReply]

PLANNED: dict[str, Any] = {
    "scope": "T1:update",
    "max_chars": 500,
    "edits_per_minute": 6.0,
    "burst": 2,
    "min_edit_interval": 1.0,
    "post_scope": "",
    "posts_per_minute": 60.0,
    "post_burst": 3,
    "whole_under_load": True,
}


def planned(make_sink: MakeSink, channel: str, **options: Any) -> FakeSink:
    return make_sink(**{**PLANNED, "post_scope": f"T1:post:{channel}", **options})


async def answer(
    reply: ProgressiveReply, clock: FakeClock, text: str, *, chars_per_second: float = 200.0
) -> float:
    """Stream ``text`` in 10-character deltas; return how long ``finish()`` took."""
    await reply.start()
    for at in range(0, len(text), 10):
        await reply.append(text[at : at + 10])
        await clock.sleep(10 / chars_per_second)
    finishing = clock.monotonic()
    await reply.finish()
    return clock.monotonic() - finishing


def words(count: int, seed: str = "w") -> str:
    return " ".join(f"{seed}{n:03d}" for n in range(count))


async def test_posts_draw_from_the_channel_budget_not_the_edit_budget(
    make_sink: MakeSink, make_reply: MakeReply, platform: FakePlatform, clock: FakeClock
) -> None:
    # One edit a minute: before posts had their own budget, every continuation waited for it.
    sink = planned(make_sink, "C1", edits_per_minute=1.0, burst=2, whole_under_load=False)
    reply = make_reply(sink)
    text = words(400)  # ~2,000 chars: four or five messages of 500
    await answer(reply, clock, text, chars_per_second=10_000.0)
    assert_delivered(platform, reply, expected_text(text))
    assert platform.rate_limited == 0
    assert platform.count("post") == len(reply.message_ids) >= 4
    assert platform.count("edit") <= 2, "only the first message was ever edited"
    assert clock.monotonic() < 30.0, "no continuation waited for the edit budget"


async def test_interim_edits_leave_tokens_for_the_finals_others_owe(
    make_sink: MakeSink, make_reply: MakeReply, platform: FakePlatform, clock: FakeClock
) -> None:
    # Three answers stream slowly (plenty of interim edits wanted) and finish together.
    sinks = [planned(make_sink, f"C{n}", burst=4, edits_per_minute=12.0) for n in range(3)]
    replies = [make_reply(sink) for sink in sinks]
    texts = [words(70, seed=f"a{n}") for n in range(3)]  # ~14 s each
    waits = await asyncio.gather(
        *(
            answer(reply, clock, text, chars_per_second=30.0)
            for reply, text in zip(replies, texts, strict=True)
        )
    )
    for reply, text in zip(replies, texts, strict=True):
        assert_delivered(platform, reply, expected_text(text))
    assert platform.rate_limited == 0
    assert max(waits) < 1.0, f"every final went out at once, from the reserve: {waits}"


async def test_a_busy_scope_shows_new_answers_whole_without_edits(
    make_sink: MakeSink, make_reply: MakeReply, platform: FakePlatform, clock: FakeClock
) -> None:
    channels = [f"C{n}" for n in range(6)]
    replies = [make_reply(planned(make_sink, channel)) for channel in channels * 3]
    texts = [words(60, seed=f"q{n}") for n in range(len(replies))]
    await asyncio.gather(
        *(answer(reply, clock, text) for reply, text in zip(replies, texts, strict=True))
    )
    whole = [
        reply
        for reply in replies
        if all(call.kind == "post" for mid in reply.message_ids for call in platform.calls_for(mid))
    ]
    for reply, text in zip(replies, texts, strict=True):
        assert_delivered(platform, reply, expected_text(text))
    assert platform.rate_limited == 0
    assert len(whole) >= len(replies) // 2, "most answers were posted whole, without a placeholder"
    assert all(len(platform.calls_for(reply.message_ids[0])) == 1 for reply in whole)
    assert platform.count("edit") <= 12, (
        "the edit budget was not spent on answers it could not finish"
    )


async def test_without_whole_under_load_every_answer_streams(
    make_sink: MakeSink, make_reply: MakeReply, platform: FakePlatform, clock: FakeClock
) -> None:
    replies = [make_reply(planned(make_sink, f"C{n}", whole_under_load=False)) for n in range(6)]
    texts = [words(30, seed=f"s{n}") for n in range(6)]
    await asyncio.gather(
        *(answer(reply, clock, text) for reply, text in zip(replies, texts, strict=True))
    )
    for reply, text in zip(replies, texts, strict=True):
        assert_delivered(platform, reply, expected_text(text))
        assert platform.calls_for(reply.message_ids[0])[0].text == "…", "placeholder first"


async def test_a_fast_continuation_is_posted_once_whole(
    make_sink: MakeSink, make_reply: MakeReply, platform: FakePlatform, clock: FakeClock
) -> None:
    sink = planned(make_sink, "C1", edits_per_minute=60.0, burst=5)
    reply = make_reply(sink)
    text = words(300)  # ~1,800 chars at 800/s: each continuation fills within the interval
    await answer(reply, clock, text, chars_per_second=800.0)
    assert_delivered(platform, reply, expected_text(text))
    for message_id in reply.message_ids[1:]:
        calls = platform.calls_for(message_id)
        assert [(c.kind, c.final) for c in calls] == [("post", True)], calls


async def test_a_slow_continuation_streams_after_the_interval(
    make_sink: MakeSink, make_reply: MakeReply, platform: FakePlatform, clock: FakeClock
) -> None:
    sink = planned(make_sink, "C1", edits_per_minute=60.0, burst=5)
    reply = make_reply(sink)
    text = words(150)  # ~750 chars at 50/s: the second message takes seconds to fill
    await answer(reply, clock, text, chars_per_second=50.0)
    assert_delivered(platform, reply, expected_text(text))
    second = platform.calls_for(reply.message_ids[1])
    assert second[0].kind == "post" and not second[0].final, "it streamed"
    first_final = next(c for c in platform.calls_for(reply.message_ids[0]) if c.final)
    assert second[0].started >= first_final.started + 1.0, "not before min_edit_interval"


async def test_each_call_carries_its_message_role(
    make_sink: MakeSink, make_reply: MakeReply, platform: FakePlatform, clock: FakeClock
) -> None:
    sink = planned(make_sink, "C1", edits_per_minute=600.0, burst=10)
    reply = make_reply(sink)
    text = words(150)
    await answer(reply, clock, text, chars_per_second=50.0)
    assert_delivered(platform, reply, expected_text(text))
    *parts, last = reply.message_ids
    roles = dict(sink.roles)  # the latest role of each message
    assert [roles[mid] for mid in parts] == [Role.PART] * len(parts)
    assert roles[last] is Role.LAST
    assert all(
        role is Role.STREAMING
        for mid, role in sink.roles
        for call in [platform.calls_for(mid)]
        if role is not roles[mid]
    )
    assert Role.of(final=False, last=True) is Role.STREAMING
