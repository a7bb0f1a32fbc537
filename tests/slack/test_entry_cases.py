"""Issue-9 inputs through the real entry points: a lone surrogate in a signed HTTP event, and
``/threadline usage`` showing a member only their own figures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import ALICE, BOB, CHANNEL, Driver, running_bot
from tests.slack.process import free_port, threadline_run
from tests.slack.test_http_mode import HttpSlack, http_env


async def test_a_lone_surrogate_is_replaced_and_the_question_answered(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    port = free_port()
    env = http_env(slack, llm, tmp_path / "t.db", port)
    async with (
        threadline_run(env, tmp_path, slack=slack, http_port=port),
        aiohttp.ClientSession() as session,
    ):
        message = slack.user_says(CHANNEL, f"<@{slack.bot_user}> half \ud83d an emoji")
        body = json.dumps(slack.event(message, "EvSurrogate")).encode()
        assert b"\\ud83d" in body  # the JSON escape Slack would send, not valid UTF-8 text
        status, _ = await HttpSlack(session, port).post(body)
        assert status == 200
        [reply] = await Driver(slack).finished(CHANNEL, message["ts"])
    assert reply.visible_text == "You said: half \ufffd an emoji"
    assert llm.requests[0].body["messages"][-1]["content"] == "half \ufffd an emoji"


async def test_usage_shows_members_their_own_and_admins_everyone(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with running_bot(slack, llm, tmp_path / "u.db", SLACK_ADMIN_USERS=ALICE) as bot:
        alice_ts = await bot.mention("from alice")
        bob_ts = await bot.mention("from bob", user=BOB)
        await bot.finished(CHANNEL, alice_ts)
        await bot.finished(CHANNEL, bob_ts)
        for_alice = ""
        for _ in range(50):  # usage is recorded just after the final message shows
            for_alice = await bot.command("usage", user=ALICE)
            if BOB in for_alice and ALICE in for_alice:
                break
            await asyncio.sleep(0.1)
        for_bob = await bot.command("usage", user=BOB)
    assert BOB in for_bob and ALICE not in for_bob
    assert BOB in for_alice and ALICE in for_alice
