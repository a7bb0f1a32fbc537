"""Issue 13 on Slack: channel context, reasoning shown on request, message shortcuts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.slack.manifest import MESSAGE_SHORTCUTS, SHORTCUT_SUMMARIZE, SHORTCUT_TRANSLATE
from tests.fakes.llm_server import answer
from tests.fakes.slack_payloads import message_action
from tests.slack.harness import ADMIN, ALICE, BOB, CHANNEL, Bot, llm_user_texts

REASONING = "first I weigh the options, then I count them carefully " * 4


async def _mention_after_chatter(bot: Bot, count: str) -> list[str]:
    assert "updated" in await bot.command(f"settings set channel_context {count}", user=ADMIN)
    await bot.say("the deploy moved to 5pm", user=BOB)
    await bot.say("ok noted")
    ts = await bot.mention("when is the deploy?")
    await bot.finished(CHANNEL, ts)
    return llm_user_texts(bot.llm)


async def test_channel_context_on_shows_the_messages_before_the_mention(bot: Bot) -> None:
    (question,) = await _mention_after_chatter(bot, "20")
    lines = question.splitlines()
    assert lines[1:3] == ["[Bob] the deploy moved to 5pm", "[Alice] ok noted"]
    assert question.endswith("My question:\nwhen is the deploy?")


async def test_channel_context_counts_only_the_latest_messages(bot: Bot) -> None:
    (question,) = await _mention_after_chatter(bot, "1")
    assert question.splitlines()[1:2] == ["[Alice] ok noted"]
    assert "5pm" not in question


async def test_channel_context_off_sends_only_the_question(bot: Bot) -> None:
    assert "Reset" in await bot.command("settings set channel_context default", user=ADMIN)
    await bot.say("the deploy moved to 5pm", user=BOB)
    ts = await bot.mention("when is the deploy?")
    await bot.finished(CHANNEL, ts)
    assert llm_user_texts(bot.llm) == ["when is the deploy?"]


async def _reasoned(bot: Bot, mode: str) -> list[str]:
    await bot.command(f"settings set show_reasoning {mode}", user=ADMIN)
    bot.llm.enqueue(answer("Three.", reasoning=REASONING, chunk_chars=4, chunk_delay=0.02))
    ts = await bot.mention("how many?")
    (reply,) = await bot.finished(CHANNEL, ts)
    assert reply.visible_text == "Three."
    return reply.states


async def test_reasoning_collapsed_is_shown_while_it_streams(bot: Bot) -> None:
    states = await _reasoned(bot, "collapsed")
    assert "Thinking…" in states, states  # the reasoning itself is in a context block
    stored = await bot.history_becomes(CHANNEL, await _thread_of(bot), lambda h: h[-1] != "")
    assert stored == ["how many?", "Three."]  # the reasoning is never stored


async def test_reasoning_hidden_is_never_shown(bot: Bot) -> None:
    states = await _reasoned(bot, "hidden")
    assert not any("Thinking" in s or "weigh" in s for s in states)


async def _thread_of(bot: Bot) -> str:
    return str(bot.slack.bot_messages(CHANNEL)[0].thread_ts)


async def _shortcut(bot: Bot, callback_id: str, message: dict[str, Any]) -> None:
    payload = message_action(
        callback_id=callback_id,
        user=ALICE,
        team=bot.slack.team,
        channel=CHANNEL,
        message=message,
        response_url=bot.slack.response_url("shortcut"),
    )
    envelope = await bot.slack.socket.send("interactive", payload)
    await envelope.ack()


def _answers_in(bot: Bot, channel: str, thread: str | None) -> list[str]:
    found = [m for m in bot.slack.bot_messages(channel) if m.thread_ts == thread]
    return [
        m.visible_text for m in found if not m.streaming and "threadline_stop" not in m.action_ids
    ]


def test_the_manifest_offers_both_message_shortcuts() -> None:
    manifest = json.loads((Path(__file__).parents[2] / "slack-manifest.json").read_text())
    shortcuts = {s["callback_id"]: s for s in manifest["features"]["shortcuts"]}
    assert set(shortcuts) == set(MESSAGE_SHORTCUTS)
    assert all(s["type"] == "message" for s in shortcuts.values())


async def test_summarize_thread_answers_privately_in_a_dm(bot: Bot) -> None:
    ts = await bot.mention("what is 2+2?")
    await bot.finished(CHANNEL, ts)
    await bot.history_becomes(CHANNEL, ts, lambda h: len(h) == 2 and h[-1] != "")
    bot.llm.enqueue(answer("They asked about 2+2."))
    await _shortcut(bot, SHORTCUT_SUMMARIZE, {"type": "message", "ts": ts, "text": "what?"})
    dm = f"D{ALICE}"
    texts = await bot.slack.wait_for(lambda: _answers_in(bot, dm, None) or None)
    assert texts == ["They asked about 2+2."]
    question = llm_user_texts(bot.llm)[-1]
    assert question.startswith("Summarize the following conversation")
    assert "[Alice] what is 2+2?" in question
    assert "[Threadline] You said: what is 2+2?" in question
    assert _answers_in(bot, CHANNEL, ts) == ["You said: what is 2+2?"]  # nothing in the thread


async def test_translate_message_uses_the_locale_and_can_answer_in_the_thread(bot: Bot) -> None:
    bot.slack.users[ALICE]["locale"] = "fr-FR"
    assert "updated" in await bot.command("settings set shortcut_replies thread", user=ADMIN)
    said = await bot.say("the deploy moved to 5pm", user=BOB)
    bot.llm.enqueue(answer("Le déploiement est à 17h."))
    await _shortcut(bot, SHORTCUT_TRANSLATE, {"type": "message", **said})
    thread = str(said["ts"])
    texts = await bot.slack.wait_for(lambda: _answers_in(bot, CHANNEL, thread) or None)
    assert texts == ["Le déploiement est à 17h."]
    question = llm_user_texts(bot.llm)[-1]
    assert question == (
        "Translate the following message into fr-FR. Reply with the translation only.\n\n"
        "the deploy moved to 5pm"
    )


async def test_translate_to_setting_wins_over_the_locale(bot: Bot) -> None:
    bot.slack.users[ALICE]["locale"] = "fr-FR"
    assert "updated" in await bot.command("settings set translate_to German", user=ADMIN)
    said = await bot.say("good morning", user=BOB)
    await _shortcut(bot, SHORTCUT_TRANSLATE, {"type": "message", **said})
    await bot.slack.wait_for(lambda: _answers_in(bot, f"D{ALICE}", None) or None)
    assert llm_user_texts(bot.llm)[-1].startswith("Translate the following message into German.")
