"""Installing into two workspaces through the OAuth flow of ``threadline run`` (HTTP mode).

A browser opens ``/slack/install``, follows the "Add to Slack" link (which carries the state),
the user approves in the fake Slack, and the browser comes back to ``/slack/oauth_redirect``
with the code and state, as Slack sends it. Then each workspace's mentions are answered with
that workspace's bot token, until its tokens are revoked or the app is uninstalled.
"""

from __future__ import annotations

import html
import re
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import aiohttp

from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import mention_event
from tests.slack.harness import Driver, bot_env
from tests.slack.process import free_port, threadline_run
from tests.slack.test_http_mode import SECRET, HttpSlack

ONE, TWO = "T0ONE", "T0TWO"
BOTS = {ONE: ("U0BOTONE", "B0ONE"), TWO: ("U0BOTTWO", "B0TWO")}
CHANNELS = {ONE: "C0ONE", TWO: "C0TWO"}


def oauth_env(slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path, port: int) -> dict[str, str]:
    return bot_env(
        slack,
        llm,
        tmp_path / "t.db",
        SLACK_BOT_TOKEN="",
        SLACK_APP_TOKEN="",
        SLACK_CLIENT_ID=slack.client_id,
        SLACK_CLIENT_SECRET=slack.client_secret,
        SLACK_SIGNING_SECRET=SECRET,
        HTTP_PORT=str(port),
        HTTP_HOST="127.0.0.1",
    )


class Browser:
    """The installing user's browser (keeps the state cookie, follows the Slack link)."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session, self.base = session, f"http://127.0.0.1:{port}"

    async def install(self, slack: FakeSlack, team: str) -> tuple[int, str]:
        async with self.session.get(f"{self.base}/slack/install") as page:
            assert page.status == 200
            body = await page.text()
            cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        link = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', body)
        assert link is not None, body
        query = parse_qs(urlparse(html.unescape(link.group(1))).query)
        assert query["client_id"] == [slack.client_id]
        assert "chat:write" in query["scope"][0].split(",")
        bot_user, bot_id = BOTS[team]
        code = slack.approve(team, bot_user=bot_user, bot_id=bot_id)
        params = {"code": code, "state": query["state"][0]}
        async with self.session.get(
            f"{self.base}/slack/oauth_redirect", params=params, headers={"Cookie": cookie}
        ) as done:
            return done.status, await done.text()


async def mention(http: HttpSlack, slack: FakeSlack, team: str, text: str) -> str:
    """A signed ``app_mention`` of the workspace's bot, from that workspace; returns the ts."""
    bot_user, _ = BOTS[team]
    message = slack.user_says(CHANNELS[team], f"<@{bot_user}> {text}", team=team)
    status, _ = await http.event(slack.event(mention_event(message), team=team))
    assert status == 200
    return str(message["ts"])


def tokens_in(slack: FakeSlack, channel: str) -> set[str]:
    """The tokens of every call made in ``channel``."""
    return {
        call.token
        for call in slack.calls
        if channel in (call.args.get("channel"), call.args.get("channel_id"))
    }


async def test_two_workspaces_install_and_each_is_answered_with_its_own_token(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    port = free_port()
    env = oauth_env(slack, llm, tmp_path, port)
    async with (
        threadline_run(env, tmp_path, slack=slack, http_port=port),
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
    ):
        browser, http, driver = Browser(session, port), HttpSlack(session, port), Driver(slack)
        assert (await browser.install(slack, ONE))[0] == 200
        assert (await browser.install(slack, TWO))[0] == 200
        token_one, token_two = slack.token_of(ONE), slack.token_of(TWO)
        assert installed_teams(tmp_path / "t.db") == {ONE, TWO}

        asked_one = await mention(http, slack, ONE, "hello from one")
        asked_two = await mention(http, slack, TWO, "hello from two")
        [reply_one] = await driver.finished(CHANNELS[ONE], asked_one)
        [reply_two] = await driver.finished(CHANNELS[TWO], asked_two)
        # Each bot's own mention is recognised and removed: the identity is per workspace.
        assert reply_one.visible_text == "You said: hello from one"
        assert reply_two.visible_text == "You said: hello from two"
        assert tokens_in(slack, CHANNELS[ONE]) == {token_one}
        assert tokens_in(slack, CHANNELS[TWO]) == {token_two}

        revoked = {"type": "tokens_revoked", "tokens": {"bot": [BOTS[ONE][0]]}}
        assert (await http.event(slack.event(revoked, team=ONE)))[0] == 200
        slack.revoke(ONE)
        unanswered = await mention(http, slack, ONE, "still there?")
        asked_two = await mention(http, slack, TWO, "and you?")
        await driver.finished(CHANNELS[TWO], asked_two)
        assert not slack.replies(CHANNELS[ONE], unanswered)

        uninstalled = {"type": "app_uninstalled"}
        assert (await http.event(slack.event(uninstalled, team=TWO)))[0] == 200
        calls = len(slack.calls)
        unanswered_two = await mention(http, slack, TWO, "gone?")
        async with session.get(f"http://127.0.0.1:{port}/healthz") as health:
            assert health.status == 200
    assert not slack.replies(CHANNELS[TWO], unanswered_two)
    assert len(slack.calls) == calls, "nothing was called for an uninstalled workspace"
    assert len(llm.requests) == 3
    assert installed_teams(tmp_path / "t.db") == set(), "both workspaces' tokens were deleted"


def installed_teams(db: Path) -> set[str]:
    """The teams with a bot or installation row in Threadline's database."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT team_id FROM slack_bots UNION SELECT team_id FROM slack_installations"
        ).fetchall()
    return {row[0] for row in rows}


async def test_an_install_without_the_browser_state_is_refused(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    port = free_port()
    env = oauth_env(slack, llm, tmp_path, port)
    async with (
        threadline_run(env, tmp_path, slack=slack, http_port=port),
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
    ):
        code = slack.approve(ONE, bot_user="U0BOTONE", bot_id="B0ONE")
        params = {"code": code, "state": "made-up"}
        async with session.get(f"http://127.0.0.1:{port}/slack/oauth_redirect", params=params) as r:
            assert r.status == 400
    assert not slack.called("oauth.v2.access") and not slack.installs
