"""Messages from Threadline's own Slack app are never answered (issue 9, item 6), even under
another ``bot_id`` (a second install of the app, a webhook of it) and with
``SLACK_ANSWER_BOTS=true``: answering them could loop."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.slack.adapter import identify
from adapters.slack.api import build_client
from adapters.slack.routing import Identity, Kind, kind_of
from tests.fakes.llm_server import FakeLLMServer, answer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import APP_ID, bot_message_event
from tests.slack.harness import CHANNEL, Driver, bot_env, llm_user_texts
from tests.slack.process import free_port, threadline_run

ME = Identity("T0TEAM", "U0BOT", "B0BOT", "threadline", APP_ID)
TWIN_BOT, TWIN_USER = "B0TWIN", "U0TWIN"


def twin_message(slack: FakeSlack, text: str, *, profile_only: bool = False) -> dict[str, Any]:
    """A message of our app posted under another bot (as Slack sends a modern bot message)."""
    ts = slack.user_says(CHANNEL, text, user=TWIN_USER)["ts"]
    event: dict[str, Any] = {
        "type": "message",
        "channel": CHANNEL,
        "user": TWIN_USER,
        "bot_id": TWIN_BOT,
        "text": text,
        "ts": ts,
        "team": slack.team,
        "channel_type": "channel",
        "bot_profile": {"id": TWIN_BOT, "app_id": APP_ID, "name": "threadline"},
    }
    if not profile_only:
        event["app_id"] = APP_ID
    return event


@pytest.mark.parametrize("profile_only", [False, True])
def test_a_message_of_our_app_under_another_bot_is_our_own(
    slack: FakeSlack, profile_only: bool
) -> None:
    event = twin_message(slack, "<@U0BOT> hello", profile_only=profile_only)
    assert kind_of(event, ME) is Kind.OWN
    other = {**event, "app_id": "A0OTHER", "bot_profile": {"app_id": "A0OTHER"}}
    assert kind_of(other, ME) is Kind.BOT
    assert kind_of(event, Identity("T0TEAM", "U0BOT", "B0BOT", "threadline")) is Kind.BOT


@pytest.mark.parametrize("newer_slack", [False, True])
async def test_identify_learns_our_app_id(slack: FakeSlack, newer_slack: bool) -> None:
    slack.auth_test_app_id = newer_slack
    async with aiohttp.ClientSession() as session:
        me = await identify(build_client(session, slack.base_url, slack.bot_token, 10))
    assert me == Identity(slack.team, slack.bot_user, slack.bot_id, "threadline", APP_ID)
    assert bool(slack.called("bots.info")) is not newer_slack


async def test_identify_without_an_app_id_warns_and_goes_on(
    slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail_next("bots.info", "missing_scope")
    async with aiohttp.ClientSession() as session:
        me = await identify(build_client(session, slack.base_url, slack.bot_token, 10))
    assert me.app_id == "" and me.bot_id == slack.bot_id
    assert any(
        "missing_scope" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
    )


async def test_threadline_run_never_answers_its_own_app(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer("Hello, other bot."), answer("Marker answered."))
    env = bot_env(
        slack, llm, tmp_path / "threadline.db", HTTP_PORT=str(free_port()), SLACK_ANSWER_BOTS="true"
    )
    async with threadline_run(env, tmp_path, slack=slack):
        driver = Driver(slack)
        twin = twin_message(slack, "<@U0BOT> are you there?")
        await driver.deliver(twin)
        other_ts = slack.user_says(CHANNEL, "<@U0BOT> hi from a bot", user="U0OTHER")["ts"]
        other = bot_message_event(
            channel=CHANNEL,
            ts=other_ts,
            text="<@U0BOT> hi from a bot",
            bot_id="B0OTHER",
            team=slack.team,
        )
        await driver.deliver(other)
        await driver.finished(CHANNEL, other_ts)
        marker = await driver.mention("a marker, handled after both")
        await driver.finished(CHANNEL, marker)
    assert slack.replies(CHANNEL, twin["ts"]) == []
    assert len(llm.requests) == 2, "the other app's bot and the marker, never our own app"
    assert "are you there?" not in " ".join(llm_user_texts(llm, 0) + llm_user_texts(llm, 1))
