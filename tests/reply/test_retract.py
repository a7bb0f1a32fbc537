"""``ProgressiveReply.retract``: an answer moderation withheld is replaced on the platform by
its notice, continuation messages included (on virtual time, on the fake platform)."""

from __future__ import annotations

from collections.abc import Callable

from bot.moderation import retract
from bot.reply.clock import FakeClock
from bot.reply.progressive import CUT_SHORT, ProgressiveReply, ReplyStatus
from tests.fakes.sink import FakePlatform
from tests.reply.conftest import MakeSink

MakeReply = Callable[..., ProgressiveReply]
NOTICE = "The answer was withheld: the content check flagged it (violence)."


async def test_retract_replaces_the_shown_text_by_the_notice(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink())
    await reply.start()
    await reply.append("something nobody should read")
    await clock.sleep(2.0)
    assert "nobody" in platform.texts(reply.message_ids)[0]
    await retract(reply, NOTICE)
    assert platform.texts(reply.message_ids) == [f"_⚠ {NOTICE}_"]
    assert reply.status is ReplyStatus.FAILED


async def test_retract_empties_every_continuation_message(
    platform: FakePlatform, make_sink: MakeSink, make_reply: MakeReply, clock: FakeClock
) -> None:
    reply = make_reply(make_sink(max_chars=300))
    await reply.start()
    for _ in range(30):
        await reply.append("A sentence that keeps going on. ")
        await clock.sleep(0.5)
    await clock.sleep(5.0)
    assert len(reply.message_ids) > 2
    await retract(reply, NOTICE)
    texts = platform.texts(reply.message_ids)
    assert texts == [f"_⚠ {NOTICE}_"] + [CUT_SHORT] * (len(texts) - 1)
    assert all("sentence" not in text for text in platform.messages.values())
