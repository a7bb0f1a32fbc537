"""Connections, acks, permissions and commands (in-process bot on the fake Slack)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import adapters.slack.commands as slack_commands
from adapters.slack.sink import Target
from bot.commands import NOT_ALLOWED
from bot.errors import ConfigError
from tests.fakes.llm_server import FakeLLMServer, answer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import slash_command
from tests.slack.harness import ADMIN, ALICE, CHANNEL, DM, Bot, llm_user_texts, running_bot


async def test_socket_mode_reconnects_when_slack_asks(bot: Bot) -> None:
    await bot.slack.socket.disconnect_all()
    await bot.slack.wait_for(lambda: bot.slack.socket.connections == 2)
    ts = await bot.mention("still there?")
    [reply] = await bot.finished(CHANNEL, ts)
    assert reply.visible_text == "You said: still there?"
    assert len(bot.slack.called("apps.connections.open")) == 2


async def test_every_envelope_is_acknowledged_even_events_we_ignore(bot: Bot) -> None:
    joined = {"type": "member_joined_channel", "user": ALICE, "channel": CHANNEL}
    changed = {"type": "assistant_thread_context_changed", "assistant_thread": {}}
    assert await bot.deliver(joined) == {}
    assert await bot.deliver(changed) == {}
    assert len(bot.slack.socket.envelopes) == 2


@pytest.mark.parametrize(
    ("token", "named"), [("bot", "SLACK_BOT_TOKEN"), ("app", "SLACK_APP_TOKEN")]
)
async def test_a_rejected_token_stops_the_start_with_a_clear_error(
    slack: FakeSlack, llm: FakeLLMServer, db: Path, token: str, named: str
) -> None:
    wrong = (
        {"SLACK_BOT_TOKEN": "xoxb-revoked"} if token == "bot" else {"SLACK_APP_TOKEN": "xapp-old"}
    )
    with pytest.raises(ConfigError, match=named):
        async with running_bot(slack, llm, db, **wrong):
            pass


async def test_every_web_api_call_goes_to_slack_api_url(bot: Bot) -> None:
    ts = await bot.mention("hi")
    await bot.finished(CHANNEL, ts)
    methods = {c.method for c in bot.slack.calls}
    assert {"auth.test", "apps.connections.open", "chat.startStream", "chat.update"} <= methods


async def test_append_never_waits_for_slack(bot: Bot) -> None:
    release = bot.slack.hold("chat.startStream")
    reply = bot.adapter_replies().build(Target(bot.slack.team, CHANNEL, "1.0", ALICE))
    await reply.start()
    await reply.append("first words")
    await bot.slack.wait_for(lambda: bot.slack.called("chat.startStream"))
    for word in ("while", " Slack", " is", " slow"):
        await asyncio.wait_for(reply.append(word), 1.0)
    release.set()
    await asyncio.wait_for(reply.finish(), 10)
    [message] = bot.slack.bot_messages(CHANNEL)
    assert message.visible_text == "first wordswhile Slack is slow"


async def test_settings_need_a_workspace_admin_when_no_admin_list_is_set(bot: Bot) -> None:
    assert await bot.command("settings set temperature 0.5") == NOT_ALLOWED
    assert await bot.command("settings set temperature 0.5", user=ADMIN) == (
        "temperature updated for this channel."
    )
    assert "users.info" in {c.method for c in bot.slack.calls}


async def test_reset_starts_a_fresh_conversation_and_usage_reports(bot: Bot) -> None:
    bot.llm.enqueue(answer("Noted."), answer("Fresh start."))
    await bot.say("remember 42", channel=DM)
    await bot.finished(DM, None)
    reset = await bot.command("reset", channel=DM)
    await bot.say("what number?", channel=DM)
    await bot.finished(DM, None, count=2)
    usage = await bot.command("usage", channel=DM)
    assert reset.startswith("Done")
    assert llm_user_texts(bot.llm) == ["what number?"]
    assert "Usage over the last 30 days" in usage


async def test_slow_commands_are_acked_at_once_and_answered_by_response_url(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slack_commands, "ACK_BUDGET_SECONDS", 0.0)
    payload = slash_command(
        text="usage",
        user=ALICE,
        channel=CHANNEL,
        team=bot.slack.team,
        response_url=bot.slack.response_url("slow"),
        command="/threadline",
    )
    envelope = await bot.slack.socket.send("slash_commands", payload, accepts_response_payload=True)
    assert await envelope.ack() == {}
    [response] = await bot.slack.wait_for(lambda: bot.slack.responses)
    assert response["response_type"] == "ephemeral"
    assert response["text"] == "No model usage recorded by you in the last 30 days."


async def test_stop_with_nothing_running_says_so(bot: Bot) -> None:
    ts = await bot.mention("hi")
    [reply] = await bot.finished(CHANNEL, ts)
    await bot.click(reply, "threadline_regenerate")
    await bot.finished(CHANNEL, ts, count=2)
    second = bot.slack.replies(CHANNEL, ts)[-1]
    stale = bot.slack.replies(CHANNEL, ts)[0]
    stale.blocks[1]["elements"].append(
        {
            "type": "button",
            "action_id": "threadline_stop",
            "value": second.button_value("threadline_regenerate"),
        }
    )
    await bot.click(stale, "threadline_stop")
    await bot.slack.wait_for(lambda: bot.slack.ephemerals)
    assert bot.slack.ephemerals[-1]["text"] == "That answer is not being written any more."
