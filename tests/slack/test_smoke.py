from __future__ import annotations

from tests.slack.harness import CHANNEL, Bot


async def test_mention_is_answered_in_a_thread(bot: Bot) -> None:
    ts = await bot.mention("hello there")
    [answer] = await bot.finished(CHANNEL, ts)
    assert answer.visible_text == "You said: hello there"
