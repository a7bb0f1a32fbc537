"""Reasoning on Slack (``show_reasoning collapsed``): a context block (small grey text) with a
short ``text`` fallback while the model thinks, then exactly the answer; hostile reasoning stays
in the block as text and pings no one."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import (
    ACTION_STOP,
    THINKING_LABEL,
    THINKING_MARK,
    THINKING_TEXT_MAX,
    thinking_blocks,
)
from adapters.slack.sink import SlackSink, Target
from bot.reply.units import TextUnit, size
from tests.fakes.llm_server import answer, reasoned
from tests.slack.harness import ADMIN, BOB, CHANNEL, Bot
from tests.slack.pings import leaks, pings

HOSTILE = (
    "<!channel> <!here|here> @everyone <@U0BOB> <!subteam^S1|team> <https://evil.example|click>"
    " & || ``` `x` *bold* _it_ ~s~ > quote end"
)
TEXT_OBJECT_MAX = 3000
"""Slack's limit for a text object (docs.slack.dev, composition objects: text object)."""


def _context(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [block for block in blocks if block.get("type") == "context"]


def _reasoning_text(context: dict[str, Any]) -> str:
    """The reasoning element of a thinking context block, checked against Slack's limits."""
    label, body = context["elements"]
    assert label == {"type": "mrkdwn", "text": f"*{THINKING_LABEL}*"}
    assert body["type"] == "mrkdwn" and body["verbatim"] is True
    text: str = body["text"]
    assert 1 <= size(text, TextUnit.UTF16) <= THINKING_TEXT_MAX <= TEXT_OBJECT_MAX
    return text


def _thinking_calls(bot: Bot) -> list[tuple[str, list[dict[str, Any]]]]:
    """(text, blocks) of every post or edit that showed reasoning."""
    return [
        (str(call.args.get("text")), call.args["blocks"])
        for call in bot.slack.calls
        if call.method in ("chat.postMessage", "chat.update")
        and _context(call.args.get("blocks") or [])
    ]


async def _ask(bot: Bot, reasoning: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """Ask with reasoning shown; check the final message is exactly the answer."""
    assert "updated" in await bot.command("settings set show_reasoning collapsed", user=ADMIN)
    bot.llm.enqueue(reasoned(reasoning))
    ts = await bot.mention("how many?")
    (reply,) = await bot.finished(CHANNEL, ts)
    assert reply.visible_text == "Three."
    assert _context(reply.blocks) == []
    return _thinking_calls(bot)


def test_hostile_reasoning_renders_as_inert_text() -> None:
    for reasoning in (HOSTILE, "&" * 5000, "\U0001f600" * 5000, "<" * 5000):
        (context, stop) = thinking_blocks(reasoning, final=False, value="C1|1.0")
        text = _reasoning_text(context)
        assert "<" not in text and ">" not in text
        assert pings(text) == []
        assert stop["elements"][0]["action_id"] == ACTION_STOP


def test_only_the_sinks_own_thinking_text_is_marked() -> None:
    sink = SlackSink(AsyncWebClient(token="xoxb-unused"), Target("T1", "C1", "1.0"))
    assert sink.thinking("weigh\nthe options") == THINKING_MARK + "weigh the options"
    assert sink.sanitize(THINKING_MARK + "an answer") == "an answer"


async def test_reasoning_shows_in_a_context_block_then_only_the_answer(bot: Bot) -> None:
    shown = await _ask(bot, "first I weigh the options, then I count them")
    assert shown
    text, blocks = shown[-1]
    assert text == THINKING_LABEL  # the notification fallback stays short
    assert "count them" in _reasoning_text(_context(blocks)[0])
    assert ACTION_STOP in [
        e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]
    ]
    thread = str(bot.slack.bot_messages(CHANNEL)[0].thread_ts)
    stored = await bot.history_becomes(CHANNEL, thread, lambda h: h[-1:] == ["Three."])
    assert stored == ["how many?", "Three."]  # the reasoning is never stored


async def test_hostile_reasoning_stays_in_the_block_and_pings_no_one(bot: Bot) -> None:
    shown = await _ask(bot, "a" * 5000 + HOSTILE)
    assert shown
    for text, blocks in shown:
        assert text == THINKING_LABEL
        body = _reasoning_text(_context(blocks)[0])
        assert body.endswith("quote end") and "&lt;" in body and "&amp;" in body
    assert leaks(bot.slack, BOB) == [] and leaks(bot.slack) == []


async def test_an_answer_cannot_pass_for_reasoning(bot: Bot) -> None:
    bot.llm.enqueue(answer(THINKING_MARK + "Three."))
    ts = await bot.mention("how many?")
    (reply,) = await bot.finished(CHANNEL, ts)
    assert reply.visible_text == "Three."
    assert _thinking_calls(bot) == []
