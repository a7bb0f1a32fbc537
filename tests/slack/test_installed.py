"""Workspaces installed through OAuth, on a migrated database and the fake Slack's Web API.

A stored answer rebuilt by ``ReplyBuilder.rebuild`` (as after a restart, before any event of its
workspace arrived) posts with that workspace's token; a workspace whose installation is deleted
gets no token any more (its calls fail as sink errors before reaching Slack).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from slack_sdk.oauth.installation_store import Installation

from adapters.slack.api import call
from adapters.slack.installed import InstalledWorkspaces, client_options
from adapters.slack.oauth import Stores, open_stores
from adapters.slack.replies import ReplyBuilder
from adapters.slack.tasks import TaskSet
from bot.errors import SinkError
from bot.reply.factory import ReplyFactory
from bot.store.migrate import upgrade_async
from tests.fakes.slack_api import FakeSlack

ONE, TWO = "T0ONE", "T0TWO"


@pytest.fixture
async def stores(tmp_path: Path, slack: FakeSlack) -> AsyncIterator[Stores]:
    url = f"sqlite:///{tmp_path / 'installs.db'}"
    await upgrade_async(url)
    async with open_stores(url, slack.client_id) as opened:
        yield opened


async def install(stores: Stores, slack: FakeSlack, team: str, bot_user: str) -> str:
    """What Bolt saves after ``oauth.v2.access`` (the fake issued the token)."""
    code = slack.approve(team, bot_user=bot_user, bot_id=f"B{bot_user}")
    token = await slack_access(slack, code)
    await stores.installations.async_save(
        Installation(
            app_id=slack.app_id,
            enterprise_id=None,
            team_id=team,
            bot_token=token,
            bot_id=f"B{bot_user}",
            bot_user_id=bot_user,
            user_id="U0INSTALLER",
        )
    )
    return token


async def slack_access(slack: FakeSlack, code: str) -> str:
    async with aiohttp.ClientSession() as session:
        form = {"code": code, "client_id": slack.client_id, "client_secret": slack.client_secret}
        url = f"{slack.base_url}oauth.v2.access"
        async with session.post(url, data=form) as response:
            data = await response.json()
    assert data["ok"], data
    return str(data["access_token"])


async def test_a_rebuilt_answer_posts_with_its_workspace_token(
    stores: Stores, slack: FakeSlack
) -> None:
    token_one = await install(stores, slack, ONE, "U0BOTONE")
    token_two = await install(stores, slack, TWO, "U0BOTTWO")
    async with aiohttp.ClientSession() as session:
        tasks = TaskSet()
        options = client_options(session, slack.base_url, 5)
        workspaces = InstalledWorkspaces(stores.installations, options, tasks)
        builder = ReplyBuilder(workspaces.client, ReplyFactory.default(), native=False)
        for team, channel in ((ONE, "C0ONE"), (TWO, "C0TWO")):
            stored = {"workspace": team, "channel": channel, "thread": "", "user": "U0ALICE"}
            reply = builder.rebuild(stored, None)
            assert reply is not None
            await reply.start()
            await reply.append(f"hello {team}")
            await reply.finish()

        found = await workspaces.find(TWO)
        assert found is not None and found.me.user_id == "U0BOTTWO"
        assert (found.me.workspace, found.me.app_id, found.token) == (TWO, slack.app_id, token_two)
        await tasks.close(1.0)
    posts = {(c.args["channel"], c.token) for c in slack.called("chat.postMessage")}
    assert posts == {("C0ONE", token_one), ("C0TWO", token_two)}


async def test_a_deleted_installation_has_no_token(stores: Stores, slack: FakeSlack) -> None:
    await install(stores, slack, ONE, "U0BOTONE")
    async with aiohttp.ClientSession() as session:
        options = client_options(session, slack.base_url, 5)
        workspaces = InstalledWorkspaces(stores.installations, options, TaskSet())
        assert await workspaces.find(ONE) is not None
        assert await workspaces.find(TWO) is None
        await stores.installations.async_delete_bot(enterprise_id=None, team_id=ONE)
        workspaces.forget(ONE)
        assert await workspaces.find(ONE) is None
        request = workspaces.client(ONE).chat_postMessage(channel="C0ONE", text="hello")
        with pytest.raises(SinkError, match="NotInstalledError"):
            await call("chat.postMessage", request)
    assert not slack.called("chat.postMessage")
