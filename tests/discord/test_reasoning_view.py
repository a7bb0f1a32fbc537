"""Reasoning on Discord (``show_reasoning collapsed``): a ``-# Thinking…`` header over a spoiler
holding the tail while the model thinks, then exactly the answer; hostile reasoning stays in
the spoiler and pings no one."""

from __future__ import annotations

from adapters.discord.keys import guild_key
from adapters.discord.sink import MAX_CHARS, THINKING_HEADER, thinking_view
from bot.model import ConversationKey
from tests.discord.harness import Bot, answer_texts, finished, stored_status
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.llm_server import reasoned

HOSTILE = "||@everyone <@&123> <!channel> ``` `x` [l](https://e.x/||y) ~~s~~ end||\\"
SPECIALS = set("|`*_~<>[]()\\")


def _spoiler(view: str) -> str:
    """The spoiler's inside, after checking the header and that the spoiler is the whole line."""
    header, line = view.split("\n")
    assert header == THINKING_HEADER
    assert line.startswith("||") and line.endswith("||")
    return line[2:-2]


def _unescaped(inside: str) -> list[str]:
    """Markdown characters in ``inside`` that no backslash escapes."""
    found, escaped = [], False
    for char in inside:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in SPECIALS:
            found.append(char)
    assert not escaped, "a trailing backslash would escape the closing ||"
    return found


def _channel(fake: FakeDiscord, thread: int | None = None) -> ConversationKey:
    return guild_key(fake.guild_id, fake.general, thread)


async def _answer(bot: Bot, reasoning: str) -> tuple[list[str], list[str], int]:
    """Ask with reasoning shown: (answer texts, every state of the first message, thread)."""
    fake = bot.fake
    await bot.engine.change_setting(_channel(fake), "show_reasoning", "collapsed", actor="admin")
    bot.llm.enqueue(reasoned(reasoning))
    await fake.user_message(fake.general, "how many?", mention_bot=True)
    thread = int((await fake.wait_until(lambda: fake.threads_of(fake.general)))[0]["id"])
    messages = await finished(fake, thread, text="Three.")
    return answer_texts(messages), messages[0].history, thread


def test_the_view_is_a_header_over_a_spoiler() -> None:
    inside = _spoiler(thinking_view("first I weigh\nthe options"))
    assert inside == "first I weigh the options"
    assert thinking_view("  \n ") == THINKING_HEADER


def test_hostile_text_stays_inside_the_spoiler() -> None:
    for tail in (HOSTILE, "x|", "x\\", "|" * 5000, "\\" * 5000, HOSTILE * 100):
        view = thinking_view(tail)
        assert len(view) <= MAX_CHARS
        assert _unescaped(_spoiler(view)) == []
        assert "|||" not in view


async def test_reasoning_shows_in_a_spoiler_then_only_the_answer(bot: Bot) -> None:
    texts, states, thread = await _answer(bot, "first I weigh the options, then I count them")
    assert texts == ["Three."]
    thinking = [s for s in states if s.startswith(THINKING_HEADER)]
    assert thinking, states
    assert "count them" in _spoiler(thinking[-1])
    key = _channel(bot.fake, thread)
    await stored_status(bot.engine, key, "complete")
    stored = [m.content for m in await bot.engine.export(key)]
    assert stored[-1] == "Three."
    assert not any("weigh" in content for content in stored)


async def test_hostile_reasoning_stays_in_the_spoiler_and_pings_no_one(bot: Bot) -> None:
    texts, states, _ = await _answer(bot, "a" * 5000 + HOSTILE)
    assert texts == ["Three."]
    thinking = [s for s in states if s.startswith(THINKING_HEADER)]
    assert thinking, states
    for state in thinking:
        assert len(state) <= MAX_CHARS
        inside = _spoiler(state)
        assert _unescaped(inside) == []
        assert "everyone" in inside and "e\\.x" in inside  # the tail of the hostile text
    assert bot.fake.pings == []
