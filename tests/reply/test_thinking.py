"""Reasoning in the placeholder: a ``ThinkingView`` sink renders it its own way, any other sink
gets the italic ``reasoning_view``; the tail never starts inside a grapheme cluster."""

from __future__ import annotations

from collections.abc import Callable

from bot.reply.base import ThinkingView, grapheme_tail
from bot.reply.clock import FakeClock
from bot.reply.progressive import REASONING_TAIL, ProgressiveReply
from tests.fakes.sink import FakePlatform, FakeSink
from tests.reply.conftest import MakeSink

MakeReply = Callable[..., ProgressiveReply]
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points, 1 cluster


class ThinkingSink(FakeSink):
    """A fake platform sink that shows reasoning in brackets, and keeps every tail it got."""

    def __init__(self, platform: FakePlatform) -> None:
        super().__init__(platform)
        self.tails: list[str] = []

    def thinking(self, tail: str) -> str:
        self.tails.append(tail)
        return f"[thinking: {tail}]"


async def _reason_then_answer(
    reply: ProgressiveReply, platform: FakePlatform, clock: FakeClock, reasoning: list[str]
) -> list[str]:
    """Stream ``reasoning`` then "Three."; return what the platform showed in between."""
    await reply.start()
    for piece in reasoning:
        await reply.reasoning(piece)
    await clock.sleep(0.5)
    shown = list(platform.messages.values())
    await reply.append("Three.")
    await reply.finish()
    return shown


def test_the_fake_implements_the_capability() -> None:
    assert isinstance(ThinkingSink(FakePlatform(FakeClock())), ThinkingView)
    assert not isinstance(FakeSink(FakePlatform(FakeClock())), ThinkingView)


async def test_a_thinking_view_sink_renders_the_reasoning_and_the_answer_replaces_it(
    platform: FakePlatform, make_reply: MakeReply, clock: FakeClock
) -> None:
    sink = ThinkingSink(platform)
    reply = make_reply(sink)
    shown = await _reason_then_answer(reply, platform, clock, ["weigh the ", "options"])
    assert shown == ["[thinking: weigh the options]"]
    assert sink.tails[-1] == "weigh the options"
    assert list(platform.messages.values()) == ["Three."]
    assert platform.violations == []


async def test_other_sinks_keep_the_italic_view(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink())
    shown = await _reason_then_answer(reply, platform, clock, ["weigh *the* options"])
    assert shown == ["_Thinking: …weigh the options_"]
    assert list(platform.messages.values()) == ["Three."]


async def test_the_tail_is_bounded_and_starts_on_a_cluster(
    platform: FakePlatform, make_reply: MakeReply, clock: FakeClock
) -> None:
    sink = ThinkingSink(platform)
    reply = make_reply(sink)
    await reply.start()
    for _ in range(100):  # 700 code points: a plain cut at 300 would land inside a cluster
        await reply.reasoning(FAMILY)
    tail = sink.tails[-1]
    assert len(tail) <= REASONING_TAIL
    assert tail == FAMILY * (len(tail) // len(FAMILY))
    assert len(tail) > REASONING_TAIL - len(FAMILY)
    await reply.finish()


async def test_reasoning_after_the_first_text_is_not_shown(
    platform: FakePlatform, make_reply: MakeReply, clock: FakeClock
) -> None:
    sink = ThinkingSink(platform)
    reply = make_reply(sink)
    await reply.start()
    await reply.append("Three.")
    await reply.reasoning("late thought")
    await reply.finish()
    assert sink.tails == []
    assert list(platform.messages.values()) == ["Three."]


def test_grapheme_tail_keeps_clusters_whole() -> None:
    flags = "\U0001f1eb\U0001f1f7" * 10  # regional-indicator pairs
    assert grapheme_tail(flags, 5) == "\U0001f1eb\U0001f1f7" * 2
    accented = "e\u0301" * 10
    assert grapheme_tail(accented, 3) == "e\u0301"
    assert grapheme_tail("plain text", 4) == "text"
    assert grapheme_tail("short", 100) == "short"
    assert grapheme_tail("", 5) == ""
