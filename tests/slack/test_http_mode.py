"""HTTP mode end to end: signed events, commands and clicks sent to ``threadline run``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.commands import HELP
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import block_action, form_body, mention_event, sign, slash_command
from tests.slack.harness import ALICE, CHANNEL, Driver, bot_env
from tests.slack.process import free_port, threadline_run

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


class HttpSlack:
    """Posts to the bot's /slack/events the way Slack does in HTTP mode."""

    def __init__(self, session: aiohttp.ClientSession, port: int, secret: str = SECRET) -> None:
        self.session, self.url, self.secret = (
            session,
            f"http://127.0.0.1:{port}/slack/events",
            secret,
        )

    async def post(
        self,
        body: bytes,
        *,
        content_type: str = "application/json",
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        all_headers = {"Content-Type": content_type, **sign(body, secret or self.secret, timestamp)}
        all_headers.update(headers or {})
        async with self.session.post(self.url, data=body, headers=all_headers) as response:
            return response.status, await response.text()

    async def event(self, payload: dict[str, Any], **options: Any) -> tuple[int, str]:
        return await self.post(json.dumps(payload).encode(), **options)


def http_env(
    slack: FakeSlack, llm: FakeLLMServer, db: Path, port: int, **extra: str
) -> dict[str, str]:
    """The environment of ``threadline run`` in HTTP mode on ``port`` (no Socket Mode)."""
    return bot_env(
        slack,
        llm,
        db,
        SLACK_APP_TOKEN="",
        SLACK_SIGNING_SECRET=SECRET,
        HTTP_PORT=str(port),
        HTTP_HOST="127.0.0.1",
        **extra,
    )


async def test_http_mode_verifies_signatures_and_answers(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    port = free_port()
    env = http_env(slack, llm, tmp_path / "t.db", port)
    async with (
        threadline_run(env, tmp_path, slack=slack, http_port=port),
        aiohttp.ClientSession() as session,
    ):
        http = HttpSlack(session, port)
        challenge = await http.event(
            {"type": "url_verification", "challenge": "c-123", "token": "t"}
        )
        assert challenge[0] == 200 and "c-123" in challenge[1]

        message = slack.user_says(CHANNEL, f"<@{slack.bot_user}> over http")
        forged = await http.event(slack.event(message), secret="not-the-secret")
        stale = await http.event(slack.event(message), timestamp=int(time.time()) - 600)
        malformed = await http.post(b"{not json")
        assert (forged[0], stale[0], malformed[0]) == (401, 401, 400)
        assert not slack.called("chat.startStream"), "nothing ran for rejected requests"

        first = await http.event(slack.event(message, "EvHTTP1"))
        retry = await http.event(
            slack.event(message, "EvHTTP1"),
            headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
        )
        both = await http.event(slack.event(mention_event(message), "EvHTTP2"))
        assert (first[0], retry[0], both[0]) == (200, 200, 200)
        [reply] = await Driver(slack).finished(CHANNEL, message["ts"])
        assert reply.visible_text == "You said: over http"

        command = slash_command(
            text="help",
            user=ALICE,
            channel=CHANNEL,
            team=slack.team,
            response_url=slack.response_url("cmd"),
            command="/threadline",
        )
        status, body = await http.post(
            form_body(command, interactive=False), content_type="application/x-www-form-urlencoded"
        )
        assert status == 200 and json.loads(body)["text"] == HELP

        click = block_action(
            action_id="threadline_feedback_down",
            value=reply.button_value("threadline_regenerate"),
            user=ALICE,
            team=slack.team,
            channel=CHANNEL,
            message=reply.as_event_message(),
            response_url=slack.response_url("act"),
        )
        status, _ = await http.post(
            form_body(click, interactive=True), content_type="application/x-www-form-urlencoded"
        )
        assert status == 200
        await slack.wait_for(lambda: slack.ephemerals)

        async with session.get(f"http://127.0.0.1:{port}/healthz") as health:
            assert health.status == 200
    assert len(llm.requests) == 1
    assert slack.ephemerals[-1]["text"] == "Thanks for the feedback!"
