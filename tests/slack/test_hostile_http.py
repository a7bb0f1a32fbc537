"""Hostile input to Slack's HTTP endpoint: refused with 4xx, one WARNING at most, no traceback.

The junk goes through ``threadline run`` (one process for every case); Bolt's failure paths
(a listener raising ``StoreError`` or a bug) are driven in-process through ``HttpTransport``
and the app ``new_app`` builds, with the real Bolt and aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict
from slack_bolt.async_app import AsyncApp

from adapters.slack import commands as slack_commands, load_config
from adapters.slack.adapter import new_app
from adapters.slack.api import build_client
from adapters.slack.http_mode import HttpTransport
from adapters.slack.lograte import RateLimitedLog
from adapters.slack.routing import Identity
from adapters.slack.tasks import TaskSet
from adapters.slack.users import UserDirectory
from adapters.slack.workspaces import OneWorkspace, Workspace
from bot.config import EnvReader
from bot.errors import StoreError
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.process import Process
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import form_body, mention_event, sign, slash_command
from tests.slack.harness import ALICE, CHANNEL, Driver, running_bot
from tests.slack.process import free_port, threadline_run
from tests.slack.test_http_mode import http_env as http_mode_env

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
DEPTH = 100_000
DEEP_LIST = b"[" * DEPTH + b"]" * DEPTH
DEEP_OBJECT = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
EVENT = b'{"type":"event_callback","event":{"type":"app_mention"}}'
FAKE_SIGNATURE = "v0=" + "0" * 64
TIMESTAMP = "X-Slack-Request-Timestamp"
SIGNED_AT = {"X-Slack-Signature": FAKE_SIGNATURE}


@dataclass(frozen=True)
class Junk:
    """One hostile request: body, content type (None: no header) and how it is signed."""

    name: str
    body: bytes
    content_type: str | None = JSON
    signed: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    skew: int | None = None
    """Seconds between the signed timestamp and the moment the request is sent."""


UNSIGNED = [
    Junk("json list", b"[]"),
    Junk("json null", b"null"),
    Junk("json string", b'"s"'),
    Junk("json number", b"123"),
    Junk("form payload list", b"payload=[]", FORM),
    Junk("form payload null", b"payload=null", FORM),
    Junk("deep list", DEEP_LIST),
    Junk("deep object", DEEP_OBJECT),
    Junk("empty body", b""),
    Junk("no content type", b"[]", None),
    Junk("xml", b"<a/>", "application/xml"),
    Junk("multipart", b"--x\r\n\r\n[]\r\n--x--\r\n", "multipart/form-data; boundary=x"),
    Junk("text payload", b"payload=%7B%7D", "text/plain"),
    Junk("not utf-8", b"\xff\xfe{\x00\xc3("),
    Junk("huge body", b"[" + b"0," * 1_000_000 + b"0]"),
    Junk("timestamp not a number", EVENT, headers={**SIGNED_AT, TIMESTAMP: "soon"}),
    Junk("timestamp too long", EVENT, headers={**SIGNED_AT, TIMESTAMP: "9" * 5000}),
    Junk("timestamp negative", EVENT, headers={**SIGNED_AT, TIMESTAMP: "-1"}),
    Junk("timestamp not ascii", EVENT, headers={**SIGNED_AT, TIMESTAMP: "١٧٠٠٠٠٠٠٠٠"}),
    Junk("signature only", EVENT, headers={"X-Slack-Signature": FAKE_SIGNATURE}),
    Junk("signature not v0", EVENT, headers={"X-Slack-Signature": "v1=abc"}),
    Junk("forged", EVENT, headers={"X-Slack-Signature": FAKE_SIGNATURE}, signed=True),
    Junk("stale", EVENT, signed=True, skew=-600),
    Junk("from the future", EVENT, signed=True, skew=600),
]

SIGNED = [
    Junk("signed json list", b"[]", signed=True),
    Junk("signed json null", b"null", signed=True),
    Junk("signed json string", b'"s"', signed=True),
    Junk("signed json number", b"123", signed=True),
    Junk("signed form payload list", b"payload=[]", FORM, signed=True),
    Junk("signed form payload null", b"payload=null", FORM, signed=True),
    Junk("signed form payload not json", b"payload=%7Bnope", FORM, signed=True),
    Junk("signed deep list", DEEP_LIST, signed=True),
    Junk("signed deep object", DEEP_OBJECT, signed=True),
    Junk("signed not json", b"{not json", signed=True),
    Junk("signed not utf-8", b'{"a":"\xff"}', signed=True),
    Junk("signed event not an object", b'{"type":"event_callback","event":"x"}', signed=True),
    Junk("signed event list", b'{"type":"event_callback","event":[1]}', signed=True),
    Junk("signed authorizations", b'{"type":"event_callback","authorizations":5}', signed=True),
    Junk("signed unknown type", b'{"type":"surprise"}', signed=True),
    Junk("signed empty object", b"{}", signed=True),
    Junk("signed text body", b"[]", "text/plain", signed=True),
]


class LogWatch:
    """The lines a running process logged since the last look."""

    def __init__(self, process: Process) -> None:
        self._log = process.log
        self._offset = 0
        self.new_lines()

    def new_lines(self) -> list[str]:
        data = self._log.read_bytes()[self._offset :]
        self._offset += len(data)
        return data.decode(errors="replace").splitlines()


class Poster:
    """Sends raw requests to the endpoint with exactly the headers a case asks for."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def send(self, junk: Junk) -> tuple[int, CIMultiDict[str], str]:
        at = None if junk.skew is None else int(time.time()) + junk.skew
        headers = sign(junk.body, SECRET, at) if junk.signed else {}
        headers.update(junk.headers)
        if junk.content_type is not None:
            headers["Content-Type"] = junk.content_type
        async with self.session.post(
            f"{self.base}/slack/events",
            data=io.BytesIO(junk.body),
            headers=headers,
            skip_auto_headers=["Content-Type"],
        ) as response:
            return response.status, CIMultiDict(response.headers), await response.text()

    async def signed(self, payload: dict[str, Any]) -> tuple[int, str]:
        status, _, text = await self.send(Junk("signed", json.dumps(payload).encode(), signed=True))
        return status, text


def warning_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if " WARNING " in line]


async def test_junk_is_refused_quietly_and_the_bot_still_answers(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    port = free_port()
    env = http_mode_env(slack, llm, tmp_path / "t.db", port)
    async with (
        threadline_run(env, tmp_path, slack=slack, http_port=port) as process,
        aiohttp.ClientSession() as session,
    ):
        watch, http = LogWatch(process), Poster(session, f"http://127.0.0.1:{port}")
        for junk in UNSIGNED + SIGNED:
            status, headers, _ = await http.send(junk)
            lines = watch.new_lines()
            assert 400 <= status < 500, (junk.name, status, lines)
            assert headers.get("X-Slack-No-Retry") == "1", junk.name
            assert len(lines) <= 1, (junk.name, lines)
            assert warning_lines(lines) == lines, (junk.name, lines)

        forged = Junk("forged again", EVENT, headers={"X-Slack-Signature": FAKE_SIGNATURE})
        for _ in range(10):
            assert (await http.send(forged))[0] == 401
        assert len(watch.new_lines()) <= 1, "a flood of one kind is logged at most once"

        notice = {
            "token": "t",
            "type": "app_rate_limited",
            "team_id": slack.team,
            "minute_rate_limited": 1518467820,
            "api_app_id": "A0APP",
        }
        assert (await http.signed(notice))[0] == 200
        [line] = watch.new_lines()
        assert " WARNING " in line and "over its Events API limit" in line
        for _ in range(5):
            assert (await http.signed(notice))[0] == 200
        assert len(watch.new_lines()) <= 1

        challenge = await http.signed(
            {"type": "url_verification", "challenge": "c-9", "token": "t"}
        )
        assert challenge[0] == 200 and "c-9" in challenge[1]
        async with session.get(f"http://127.0.0.1:{port}/healthz") as health:
            assert (health.status, await health.json()) == (200, {"status": "ok"})

        message = slack.user_says(CHANNEL, f"<@{slack.bot_user}> still there?")
        assert (await http.signed(slack.event(message, "EvOK1")))[0] == 200
        assert (await http.signed(slack.event(mention_event(message), "EvOK2")))[0] == 200
        [reply] = await Driver(slack).finished(CHANNEL, message["ts"])
        assert reply.visible_text == "You said: still there?"
    assert "Traceback" not in process.output()


# -- Bolt's failure paths, in-process ----------------------------------------------------

ME = Identity(workspace="T0TEAM", user_id="U0BOT", bot_id="B0BOT", name="threadline")


def mention(event_id: str) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": ME.workspace,
        "api_app_id": "A0APP",
        "event_id": event_id,
        "event": {
            "type": "app_mention",
            "user": "U0ALICE",
            "text": "<@U0BOT> hi",
            "channel": "C0GENERAL",
            "ts": "1700000000.000100",
        },
    }


Listener = Callable[..., Awaitable[None]]


@contextlib.asynccontextmanager
async def http_mode(
    listener: Listener, health: Callable[[], Awaitable[bool]] | None = None
) -> AsyncIterator[Poster]:
    """``new_app`` as HTTP mode builds it, ``listener`` on app_mention, behind the transport."""

    async def healthy() -> bool:
        return True

    env = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": SECRET}
    async with aiohttp.ClientSession() as session:
        client = build_client(session, "http://127.0.0.1:9/api/", env["SLACK_BOT_TOKEN"], 5)
        one = OneWorkspace(
            Workspace(ME, env["SLACK_BOT_TOKEN"], client, UserDirectory(client, TaskSet()))
        )
        app_client = build_client(session, "http://127.0.0.1:9/api/", None, 5)
        app: AsyncApp = new_app(app_client, load_config(EnvReader(env)), one)
        app.event("app_mention")(listener)
        transport = HttpTransport(
            app, "127.0.0.1", 0, signing_secret=SECRET, health=health or healthy
        )
        await transport.start()
        try:
            yield Poster(session, f"http://127.0.0.1:{transport.port}")
        finally:
            await transport.close()


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> bool:
    return not any(r.exc_info for r in caplog.records if r.levelno >= logging.INFO)


async def test_a_failed_store_answers_503_so_slack_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def store_fails() -> None:
        raise StoreError("database is locked")

    caplog.set_level(logging.INFO)
    async with http_mode(store_fails) as http:
        status, headers, _ = await http.send(
            Junk("mention", json.dumps(mention("EvS1")).encode(), signed=True)
        )
    assert status == 503 and "X-Slack-No-Retry" not in headers
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.levelno == logging.WARNING and "database is locked" in line.getMessage()
    assert no_tracebacks(caplog)


async def test_a_bug_in_a_listener_is_one_error_line_and_no_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def buggy() -> None:
        raise KeyError("oops")

    caplog.set_level(logging.INFO)
    async with http_mode(buggy) as http:
        for n in range(5):
            status, headers, _ = await http.send(
                Junk("mention", json.dumps(mention(f"EvB{n}")).encode(), signed=True)
            )
            assert status == 400 and headers.get("X-Slack-No-Retry") == "1"
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.levelno == logging.ERROR
    assert "KeyError" in line.getMessage() and "test_hostile_http.py" in line.getMessage()
    assert no_tracebacks(caplog)


async def test_a_quick_listener_is_acknowledged_with_200() -> None:
    seen: list[str] = []

    async def quick(event: dict[str, Any]) -> None:
        seen.append(str(event["ts"]))

    async with http_mode(quick) as http:
        status, _, _ = await http.send(
            Junk("mention", json.dumps(mention("EvQ1")).encode(), signed=True)
        )
    assert status == 200 and seen == ["1700000000.000100"], "the listener ran before the answer"


@pytest.mark.parametrize(
    ("probe", "status", "said"),
    [
        ("up", 200, "ok"),
        ("down", 503, "database unavailable"),
        ("broken", 503, "database unavailable"),
    ],
)
async def test_healthz_reports_the_database(probe: str, status: int, said: str) -> None:
    async def health() -> bool:
        if probe == "broken":
            raise OSError("connection refused")
        return probe == "up"

    async def unused() -> None:
        return None

    async with (
        http_mode(unused, health) as http,
        http.session.get(f"{http.base}/healthz") as response,
    ):
        assert (response.status, await response.json()) == (status, {"status": said})


async def test_a_slow_command_in_http_mode_is_acked_before_its_answer_is_ready(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listeners run before Bolt answers in HTTP mode, so a command must not wait for its work."""
    monkeypatch.setattr(slack_commands, "ACK_BUDGET_SECONDS", 0.0)
    held = slack.hold("users.info")  # "usage" asks who is an admin: the work waits on this
    http_env = {"SLACK_APP_TOKEN": "", "SLACK_SIGNING_SECRET": SECRET, "HTTP_HOST": "127.0.0.1"}
    command = slash_command(
        text="usage",
        user=ALICE,
        channel=CHANNEL,
        team=slack.team,
        response_url=slack.response_url("slow"),
        command="/threadline",
    )
    async with (
        running_bot(slack, llm, tmp_path / "t.db", HTTP_PORT="0", **http_env) as bot,
        aiohttp.ClientSession() as session,
    ):
        assert isinstance(bot.adapter.transport, HttpTransport)
        http = Poster(session, f"http://127.0.0.1:{bot.adapter.transport.port}")
        posted = asyncio.ensure_future(
            http.send(Junk("usage", form_body(command, interactive=False), FORM, signed=True))
        )
        await asyncio.wait({posted}, timeout=10)  # a guard against a deadlock, not a timing
        held.set()
        assert posted.done(), "the ack waited for the command's work"
        assert posted.result()[0] == 200
        [response] = await slack.wait_for(lambda: slack.responses)
    assert response["response_type"] == "ephemeral" and "usage" in response["text"]


def test_rate_limited_log_counts_what_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("tests.lograte"), interval=60.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO)
    written = [log.warning("junk", "refused one"), log.warning("junk", "refused two")]
    written.append(log.warning("other", "another kind"))
    now[0] = 61.0
    written.append(log.warning("junk", "refused three"))
    assert written == [True, False, True, True]
    assert [r.getMessage() for r in caplog.records] == [
        "refused one",
        "another kind",
        "refused three (+1 more like this not logged in the last 60 s)",
    ]
