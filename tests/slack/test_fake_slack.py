"""The fake Slack itself behaves like Slack where the adapter depends on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack


@pytest.fixture
async def client(slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    async with aiohttp.ClientSession() as session:
        yield AsyncWebClient(
            token=slack.bot_token, base_url=slack.base_url, session=session, retry_handlers=[]
        )


async def _error(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


async def test_per_minute_limits_answer_429_with_retry_after(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.limit("chat.postMessage", per_minute=2, retry_after=7)
    for _ in range(2):
        await client.chat_postMessage(channel="C1", text="ok")
    error = await _error(client.chat_postMessage(channel="C1", text="too many"))
    assert error.response.status_code == 429
    assert error.response["error"] == "ratelimited"
    assert error.response.headers["Retry-After"] == "7"
    await client.chat_update(channel="C1", ts=slack.bot_messages("C1")[0].ts, text="other method")


async def test_failures_on_demand_and_unknown_methods(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.fail_next("chat.postMessage", "channel_not_found")
    assert (await _error(client.chat_postMessage(channel="C1", text="x"))).response[
        "error"
    ] == "channel_not_found"
    await client.chat_postMessage(channel="C1", text="now fine")
    slack.unknown_methods.add("chat.startStream")
    error = await _error(client.chat_startStream(channel="D1", thread_ts="1.0"))
    assert error.response["error"] == "unknown_method"


async def test_wrong_tokens_are_refused(slack: FakeSlack, client: AsyncWebClient) -> None:
    client.token = "xoxb-wrong"
    assert (await _error(client.auth_test())).response["error"] == "invalid_auth"
    client.token = slack.bot_token
    error = await _error(client.apps_connections_open(app_token=slack.bot_token))
    assert error.response["error"] == "invalid_auth"
    opened = await client.apps_connections_open(app_token=slack.app_token)
    assert opened["url"].startswith(f"ws://127.0.0.1:{slack.port}/socket")


async def test_streams_accumulate_then_expire(slack: FakeSlack, client: AsyncWebClient) -> None:
    started = await client.chat_startStream(
        channel="C1",
        thread_ts="1.0",
        markdown_text="Hel",
        recipient_user_id="U1",
        recipient_team_id=slack.team,
    )
    ts = started["ts"]
    await client.chat_appendStream(channel="C1", ts=ts, markdown_text="lo")
    assert slack.messages["C1"][ts].visible_text == "Hello"
    slack.expire_streams()
    error = await _error(client.chat_appendStream(channel="C1", ts=ts, markdown_text="!"))
    assert error.response["error"] == "message_not_in_streaming_state"
    await client.chat_update(channel="C1", ts=ts, text="Hello!")
    assert slack.messages["C1"][ts].visible_text == "Hello!"


async def test_channel_streams_need_a_recipient(slack: FakeSlack, client: AsyncWebClient) -> None:
    error = await _error(client.chat_startStream(channel="C1", thread_ts="1.0"))
    assert error.response["error"] == "invalid_arguments"


async def test_markdown_text_cannot_be_combined_with_text(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    error = await _error(client.chat_postMessage(channel="C1", text="a", markdown_text="**a**"))
    assert error.response["error"] == "invalid_arguments"
