"""Nothing the bot sends may ping people (issue 9): mass and group mentions never, user
mentions only for the person who asked (or with ``SLACK_ALLOW_MENTIONS``), whatever the length
of a token's label and wherever the model's deltas cut it.

The property tests drive the real reply (``ProgressiveReply``), streaming natively over
``SlackStreamSink`` and posting and updating over ``SlackSink``, against the loopback fake
Slack and inspect every recorded Web API call.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.api import build_client
from adapters.slack.config import load_config
from adapters.slack.native import NativeSupport, SlackStreamSink, stream_limits
from adapters.slack.sink import SlackSink, Target
from adapters.slack.text import (
    MAX_TOKEN,
    WORD_JOINER,
    MentionPolicy,
    sanitize,
    split_safe,
)
from bot.config import EnvReader
from bot.reply.base import StreamLimits
from bot.reply.clock import FakeClock
from bot.reply.factory import ReplyFactory
from bot.reply.graphemes import last_cluster_start, may_grow
from bot.reply.layout import SETTLE
from bot.reply.progressive import ProgressiveReply
from bot.reply.scheduler import RateScheduler
from tests.fakes.llm_server import FakeLLMServer, answer
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import ALICE, CHANNEL, Driver, bot_env
from tests.slack.pings import leaks, pings, stream_calls
from tests.slack.process import free_port, threadline_run

J = WORD_JOINER
ASKER = ALICE
FILLERS = ("a", "label ", "@here ", "é|", " <b> ", "x>y", "@devs")
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- answers full of pings, and where their deltas are cut ----------------------------------


def labels() -> st.SearchStrategy[str]:
    """``""`` or ``|`` plus 0–400 characters."""
    sized = st.tuples(st.integers(0, 400), st.sampled_from(FILLERS))
    label = sized.map(lambda t: "|" + (t[1] * 400)[: t[0]])
    return st.one_of(st.just(""), label)


def tokens() -> st.SearchStrategy[str]:
    users = st.sampled_from(["U0BOB", "W0CAROL", ASKER, "u0lower"])
    return st.one_of(
        st.builds(
            "<!{}{}>".format, st.sampled_from(["here", "channel", "everyone", "HERE"]), labels()
        ),
        st.builds("<!subteam^{}{}>".format, st.sampled_from(["S0DEV", "S" + "1" * 20]), labels()),
        st.builds("<@{}{}>".format, users, labels()),
        st.builds("<https://example.com|<@{}>>".format, users),
        st.builds("[<@{}>](https://example.com)".format, users),
        st.sampled_from(["@here", "@channel", "@everyone", "<!channel", "<@U0BOB"]),
    )


def answers() -> st.SearchStrategy[str]:
    noise = st.text(alphabet="ab <>!@|^hW", max_size=6)
    parts = st.lists(st.one_of(tokens(), noise), min_size=1, max_size=5)
    return parts.map(lambda p: "Note: " + "".join(p))


@st.composite
def cut_answers(draw: st.DrawFn) -> list[str]:
    """An answer split into the deltas the model streams."""
    text = draw(answers())
    cuts = sorted(draw(st.sets(st.integers(1, len(text) - 1), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


# -- the pure pieces ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("ask <@U0BOB>", f"ask @{J}U0BOB"),
        ("ask <@W0CAROL|carol>", f"ask @{J}carol"),
        ("ask <@W0CAROL|@carol>", f"ask @{J}carol"),
        ("see <https://x.y|<@U0BOB>>", f"see <https://x.y|@{J}U0BOB>"),
        ("see [<@U0BOB>](https://x.y)", f"see [@{J}U0BOB](https://x.y)"),
        ("you, <@U0ALICE>", "you, <@U0ALICE>"),
        ("you, <@U0ALICE|alice>", "you, <@U0ALICE|alice>"),
        ("<!channel|" + "x" * 400 + ">", f"@{J}channel|" + "x" * 400 + ">"),
        ("<@U0BOB|" + "y" * 100 + ">", f"@{J}U0BOB|" + "y" * 100 + ">"),
        ("<<@U9|U1>>", f"<@{J}U1>"),
        ("<@U1|!channel>", f"@{J}!channel"),
    ],
)
def test_user_mentions_show_their_name_and_only_the_asker_is_pinged(text: str, shown: str) -> None:
    assert sanitize(text, MentionPolicy(asker=ASKER)) == shown


def test_allow_mentions_keeps_user_mentions_but_never_mass_ones() -> None:
    policy = MentionPolicy(allow_all=True)
    assert sanitize("<@U0BOB> and <@W0CAROL|carol>", policy) == "<@U0BOB> and <@W0CAROL|carol>"
    assert sanitize("<!channel|x> <!subteam^S1|devs>", policy) == f"@{J}channel @{J}devs"


def test_slack_allow_mentions_is_off_unless_set() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
    assert not load_config(EnvReader(env)).allow_mentions
    assert load_config(EnvReader({**env, "SLACK_ALLOW_MENTIONS": "true"})).allow_mentions


def test_a_token_closing_never_changes_a_finalised_message() -> None:
    """Longer tokens are neutralised by their opening alone, so the text a token rewrites
    always lies within the reply layout's look-ahead (``SETTLE``)."""
    assert MAX_TOKEN + 6 <= SETTLE


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut_answers(), st.booleans())
def test_pieces_sent_as_split_safe_cuts_them_never_ping(deltas: list[str], allow: bool) -> None:
    policy = MentionPolicy(allow_all=allow, asker=ASKER)
    pending, pieces = "", []
    for delta in deltas:
        send, pending = split_safe(pending + delta)
        pieces.append(sanitize(send, policy))
    pieces.append(sanitize(pending, policy))
    for text in [*pieces, "".join(pieces)]:
        found = pings(text, ASKER)
        if allow:
            found = [ping for ping in found if not ping.startswith("<@")]
        assert not found, (deltas, text)


# -- the real replies against the fake Slack ------------------------------------------------


@contextlib.asynccontextmanager
async def fake_slack() -> AsyncIterator[tuple[FakeSlack, SlackSink, Target, AsyncWebClient]]:
    async with FakeSlack() as slack, aiohttp.ClientSession() as session:
        client = build_client(session, slack.base_url, slack.bot_token, 10)
        target = Target(slack.team, CHANNEL, "1700000000.000100", ASKER)
        yield slack, SlackSink(client, target), target, client


def unthrottled(workspace: str) -> StreamLimits:
    """Native-stream budgets that never make a call wait."""
    limits = stream_limits(workspace)
    return dataclasses.replace(
        limits,
        starts_per_minute=6000,
        appends_per_minute=60000,
        append_burst=1000,
        append_interval=0,
    )


def stream_sink(
    client: AsyncWebClient, target: Target, *, allow_mentions: bool = False
) -> SlackStreamSink:
    return SlackStreamSink(
        client,
        target,
        native=NativeSupport(),
        allow_mentions=allow_mentions,
        limits=unthrottled(target.workspace),
    )


async def stream_calls_reach(slack: FakeSlack, count: int) -> None:
    await slack.wait_for(lambda: stream_calls(slack) >= count)


def stream_model(deltas: list[str]) -> Iterator[bool]:
    """For each delta: does the stream make a call for it (mirrors ``split_safe`` and the
    hold-back of an emoji that may still grow, ``bot.reply.stream``)?"""
    pending = ""
    for delta in deltas:
        pending += delta
        cut = len(split_safe(pending)[0])
        if cut and may_grow(pending[:cut]):
            cut = last_cluster_start(pending, cut)
        pending = pending[cut:]
        yield bool(cut)


@PROPERTY
@given(cut_answers())
async def test_native_streaming_never_sends_a_ping(deltas: list[str]) -> None:
    text = "".join(deltas)
    async with asyncio.timeout(30), fake_slack() as (slack, _sink, target, client):
        reply = ReplyFactory.default().create(stream_sink(client, target))
        await reply.start()
        for delta, calls in zip(deltas, stream_model(deltas), strict=True):
            wanted = stream_calls(slack) + 1
            await reply.append(delta)
            if calls:  # each delta goes out in its own call: the cut points are the model's
                await stream_calls_reach(slack, wanted)
        await reply.finish()
    assert not leaks(slack, ASKER), leaks(slack, ASKER)
    [message] = slack.bot_messages(CHANNEL)
    assert message.visible_text == sanitize(text, MentionPolicy(asker=ASKER))
    if any(stream_model(deltas)):
        assert slack.called("chat.startStream"), "streamed natively"


async def delivered(reply: ProgressiveReply, clock: FakeClock) -> None:
    """Let virtual time pass until the platform shows the reply's current state."""
    while not reply.delivered:
        await clock.advance(2.0)
        await asyncio.sleep(0.001)


@PROPERTY
@given(cut_answers())
async def test_post_and_update_never_send_a_ping(deltas: list[str]) -> None:
    text = "".join(deltas)
    clock = FakeClock(auto_advance=False)
    async with asyncio.timeout(30), fake_slack() as (slack, sink, _target, _client):
        reply = ReplyFactory(RateScheduler(clock), clock).create(sink)
        await reply.start()
        for delta in deltas:  # every state the answer passes through is shown
            await reply.append(delta)
            await delivered(reply, clock)
        finishing = asyncio.create_task(reply.finish())
        while not finishing.done():
            await clock.advance(2.0)
            await asyncio.sleep(0.001)
        await finishing
    assert len(slack.called("chat.update")) >= len(deltas)
    assert not leaks(slack, ASKER), leaks(slack, ASKER)
    [message] = slack.bot_messages(CHANNEL)
    assert message.visible_text == sanitize(text, MentionPolicy(asker=ASKER))


async def test_allow_mentions_keeps_user_mentions_on_both_paths() -> None:
    text = "Ask <@U0BOB> or <@W0CAROL|carol>, not <!channel>."
    async with fake_slack() as (slack, _sink, target, client):
        factory = ReplyFactory.default()
        native = factory.create(stream_sink(client, target, allow_mentions=True))
        await native.start()
        await native.append(text)
        await slack.wait_for(lambda: slack.called("chat.startStream"))
        await native.finish()
        posted = factory.create(SlackSink(client, target, allow_mentions=True))
        await posted.start()
        await posted.append(text)
        await posted.finish()
    streamed, updated = slack.bot_messages(CHANNEL)
    kept = f"Ask <@U0BOB> or <@W0CAROL|carol>, not @{J}channel."
    assert streamed.visible_text == kept == updated.visible_text
    assert any("<@U0BOB>" in str(c.args.get("markdown_text")) for c in slack.calls)


# -- end to end: ``threadline run`` with a model that writes pings --------------------------

PINGING_ANSWER = (
    "Hello <!channel|" + "announcement " * 12 + "> and <!here>! Ask <@U0BOB>, "
    "<@W0CAROL|carol> or <!subteam^S0DEV|@devs> (see <https://example.com|<@U0BOB>> and "
    "[<@U0BOB>](https://example.com)). <@U0ALICE>, you asked. @everyone done."
)
PINGING_SHOWN = (
    f"Hello @{J}channel|" + "announcement " * 12 + f"> and @{J}here! Ask @{J}U0BOB, "
    f"@{J}carol or @{J}devs (see <https://example.com|@{J}U0BOB> and "
    f"[@{J}U0BOB](https://example.com)). <@U0ALICE>, you asked. @{J}everyone done."
)


@pytest.mark.parametrize("native", ["true", "false"])
async def test_threadline_run_never_sends_the_models_pings(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path, native: str
) -> None:
    llm.enqueue(answer(PINGING_ANSWER, chunk_chars=5, chunk_delay=0.03))
    env = bot_env(
        slack,
        llm,
        tmp_path / "threadline.db",
        HTTP_PORT=str(free_port()),
        SLACK_NATIVE_STREAMING=native,
    )
    async with threadline_run(env, tmp_path, slack=slack):
        driver = Driver(slack)
        ts = await driver.mention("announce it to everyone")
        [reply] = await driver.finished(CHANNEL, ts)
    assert bool(slack.called("chat.startStream")) == (native == "true")
    assert not leaks(slack, ALICE), leaks(slack, ALICE)
    assert reply.visible_text == PINGING_SHOWN


@pytest.mark.parametrize("native", ["true", "false"])
async def test_threadline_run_with_allow_mentions_keeps_user_mentions(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path, native: str
) -> None:
    llm.enqueue(answer("Ask <@U0BOB> or <@W0CAROL|carol>, not <!here>.", chunk_chars=5))
    env = bot_env(
        slack,
        llm,
        tmp_path / "threadline.db",
        HTTP_PORT=str(free_port()),
        SLACK_NATIVE_STREAMING=native,
        SLACK_ALLOW_MENTIONS="true",
    )
    async with threadline_run(env, tmp_path, slack=slack):
        driver = Driver(slack)
        ts = await driver.mention("who should I ask?")
        [reply] = await driver.finished(CHANNEL, ts)
    assert reply.visible_text == f"Ask <@U0BOB> or <@W0CAROL|carol>, not @{J}here."
