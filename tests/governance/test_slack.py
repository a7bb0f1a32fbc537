"""Governance end to end through the Slack fake: access rules, admin-only changes, quotas and
their reset (a controllable clock), flood control, prices, audit, export and forget."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.slack import SlackAdapter, load_config
from bot.app import open_core
from bot.config import EnvReader, load_settings
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlack
from tests.governance.clock import Clock
from tests.governance.test_console import known_usage
from tests.slack.harness import ADMIN, ALICE, BOB, CHANNEL, DM, Bot, bot_env


@contextlib.asynccontextmanager
async def governed_bot(
    slack: FakeSlack, llm: FakeLLMServer, db: Path, clock: Clock | None = None, **extra: str
) -> AsyncIterator[Bot]:
    """``tests.slack.harness.running_bot`` with the core on ``clock``; admins: ADMIN."""
    env = bot_env(slack, llm, db, SLACK_ADMIN_USERS=ADMIN, **extra)
    reader = EnvReader(env)
    async with open_core(load_settings(reader), clock=clock) as core:
        adapter = SlackAdapter(core.engine, core.replies, load_config(reader))
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(stop))
        await asyncio.wait_for(adapter.ready.wait(), 10)
        try:
            yield Bot(slack, llm, core.engine, adapter, env)
        finally:
            await asyncio.wait_for(core.engine.close(), 10)
            stop.set()
            await asyncio.wait_for(task, 15)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        for user, name in ((ALICE, "Alice"), (BOB, "Bob"), (ADMIN, "Ada")):
            fake.add_user(user, name)
        yield fake


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


async def refused(bot: Bot, user: str, count: int = 1) -> list[str]:
    """The ephemeral notices ``user`` got (waits for ``count``)."""

    def found() -> list[str] | None:
        texts = [str(e["text"]) for e in bot.slack.ephemerals if e["user"] == user]
        return texts if len(texts) >= count else None

    result: list[str] = await bot.slack.wait_for(found)
    return result


async def usage_recorded(bot: Bot, requests: int) -> str:
    """Wait until the admin's usage report counts ``requests`` requests in all."""
    for _ in range(100):
        report = await bot.command("usage", user=ADMIN)
        if f"Total: {requests} requests" in report:
            return report
        await asyncio.sleep(0.05)
    raise AssertionError(report)


async def test_blocked_and_allowed_users_and_channels(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    rules = {"BLOCKED_USERS": BOB, "ALLOWED_CHANNELS": f"{CHANNEL},dm"}
    async with governed_bot(slack, llm, tmp_path / "t.db", **rules) as bot:
        ts = await bot.mention("let me in", user=BOB)
        [notice] = await refused(bot, BOB)
        asked = await bot.mention("hello")
        await bot.finished(CHANNEL, asked)
        elsewhere = slack.user_says("C0OTHER", f"<@{slack.bot_user}> here?", user=ALICE)
        await bot.deliver(elsewhere)
        await bot.say("direct", channel=DM)
        await bot.finished(DM, None)
        [other] = await refused(bot, ALICE)
    assert "blocked your access" in notice
    assert "not enabled in this channel" in other
    assert [m.thread_ts for m in slack.bot_messages(CHANNEL)] == [asked]  # nothing for bob
    assert ts != asked and slack.bot_messages("C0OTHER") == []
    assert [m["content"] for m in llm.requests[0].body["messages"][1:]] == ["hello"]
    assert len(llm.requests) == 2
    assert len(slack.ephemerals) == 2  # a mention is two events; one notice each


async def test_channel_access_rules_are_admin_only_and_audited(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with governed_bot(slack, llm, tmp_path / "a.db") as bot:
        denied = await bot.command(f"settings set allowed_users {BOB}", user=ALICE)
        closed = await bot.command("access closed", user=ALICE)
        audit_denied = await bot.command("audit", user=ALICE)
        allowed = await bot.command(f"settings set allowed_users <@{BOB}>", user=ADMIN)
        await bot.mention("am I allowed?")
        [notice] = await refused(bot, ALICE)
        bob = await bot.mention("and me?", user=BOB)
        await bot.finished(CHANNEL, bob)
        shown = await bot.command("settings", user=ALICE)
        await bot.command("access closed", user=ADMIN)
        await bot.mention("closed now?", user=BOB)
        [closed_notice] = await refused(bot, BOB)
        audit = await bot.command("audit", user=ADMIN)
    assert denied.startswith("Only Threadline admins")
    assert closed.startswith("Only Threadline admins") and audit_denied == closed
    assert allowed == "allowed_users updated for this channel."
    assert "not on the list" in notice and "turned off in this channel" in closed_notice
    assert f"allowed_users = {BOB}  (set for this channel)" in shown
    lines = audit.splitlines()
    assert lines[1].endswith(
        f"{ADMIN} in slack:{slack.team}:{CHANNEL}: settings set access: default → closed"
    )
    assert lines[2].endswith(f"settings set allowed_users: default → {BOB}")
    assert len(lines) == 3


async def test_regenerate_meets_the_same_access_rules_as_a_question(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with governed_bot(slack, llm, tmp_path / "r.db") as bot:
        asked = await bot.mention("name a colour")
        [answer] = await bot.finished(CHANNEL, asked)
        await bot.command("access closed", user=ADMIN)
        await bot.click(answer, "threadline_regenerate")
        [notice] = await refused(bot, ALICE)
        await asyncio.sleep(0.3)  # a regenerate, had it run, would have asked the model by now
    assert "turned off in this channel" in notice
    assert len(llm.requests) == 1
    assert len(slack.bot_messages(CHANNEL)) == 1


async def test_a_user_quota_is_reached_then_resets_at_midnight_utc(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    clock = Clock()
    llm.enqueue(known_usage("big", 900, 200), known_usage("next day", 10, 5))
    quota = {"QUOTA_USER_DAILY_TOKENS": "1000"}
    async with governed_bot(slack, llm, tmp_path / "q.db", clock, **quota) as bot:
        first = await bot.mention("spend")
        await bot.finished(CHANNEL, first)
        await usage_recorded(bot, 1)
        await bot.mention("more")
        [notice] = await refused(bot, ALICE)
        bob = await bot.mention("mine is separate", user=BOB)
        await bot.finished(CHANNEL, bob)
        clock.next_day()
        again = await bot.mention("a new day")
        await bot.finished(CHANNEL, again)
    assert notice.startswith("Your daily quota of 1,000 tokens is used up (1,100 used).")
    assert "It resets at " in notice and "00:00 UTC" in notice
    assert len(llm.requests) == 3


async def test_a_channel_quota_overridden_per_channel_fails_a_crossing_answer_visibly(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(known_usage("small", 20, 10))
    async with governed_bot(slack, llm, tmp_path / "c.db") as bot:
        set_ = await bot.command("settings set quota_channel_monthly_tokens 60", user=ADMIN)
        first = await bot.mention("hi")
        await bot.finished(CHANNEL, first)
        await usage_recorded(bot, 1)
        long = await bot.mention("word " * 200)  # its prompt alone is estimated past 30 tokens
        [answer] = await bot.finished(CHANNEL, long)
        audit = await bot.command("audit", user=ADMIN)
    assert set_ == "quota_channel_monthly_tokens updated for this channel."
    assert (
        "would go past this channel's monthly quota of 60 tokens (30 used)" in answer.visible_text
    )
    assert len(llm.requests) == 1
    assert "quota_channel_monthly_tokens: default → 60" in audit


async def test_flood_control_refuses_privately_and_queues_nothing(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with governed_bot(slack, llm, tmp_path / "f.db", USER_MESSAGES_PER_MINUTE="1") as bot:
        await bot.say("one", channel=DM)
        await bot.finished(DM, None)
        await bot.say("two", channel=DM)
        [notice] = await refused(bot, ALICE)
        history = await bot.history(DM, "")
    assert "at most 1 question a minute" in notice
    assert history == ["one", "You said: one"]
    assert len(llm.requests) == 1


async def test_usage_shows_cost_by_user_channel_and_model_to_admins_only(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(known_usage("a", 1_000_000, 0), known_usage("b", 0, 1_000_000))
    prices = {"MODEL_PRICES": "fake-model=0.20/0.80"}
    async with governed_bot(slack, llm, tmp_path / "u.db", **prices) as bot:
        await bot.finished(CHANNEL, await bot.mention("alice"))
        await bot.finished(CHANNEL, await bot.mention("bob", user=BOB))
        everyone = await usage_recorded(bot, 2)
        one = await bot.command(f"usage user {BOB}", user=ADMIN)
        channel = await bot.command(f"usage channel {CHANNEL}", user=ADMIN)
        own = await bot.command("usage", user=ALICE)
        filtered = await bot.command(f"usage user {BOB}", user=ALICE)
    assert f"  {ALICE}: 1 requests, 1,000,000 in + 0 out tokens, $0.2000" in everyone
    assert f"  {BOB}: 1 requests, 0 in + 1,000,000 out tokens, $0.8000" in everyone
    assert f"  {CHANNEL}: 2 requests" in everyone and "$1.00" in everyone
    assert "  fake-model: 2 requests, 1,000,000 in + 1,000,000 out tokens, $1.00" in everyone
    assert ALICE not in one and f"of {BOB}" in one
    assert f"in channel {CHANNEL}" in channel and "Total: 2 requests" in channel
    assert BOB not in own and ALICE in own and "by you" in own
    assert filtered.startswith("Only Threadline admins")


async def test_export_is_sent_by_dm_and_forget_erases_after_confirmation(
    slack: FakeSlack, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with governed_bot(slack, llm, tmp_path / "p.db") as bot:
        mine = await bot.mention("my secret")
        await bot.finished(CHANNEL, mine)
        bob = await bot.mention("bob's", user=BOB)
        await bot.finished(CHANNEL, bob)
        sent = await bot.command("export")
        asked = await bot.command("forget")
        kept = await bot.history(CHANNEL, mine)
        done = await bot.command("forget confirm")
        after = await bot.history(CHANNEL, mine)
        others = await bot.history(CHANNEL, bob)
        usage = await usage_recorded(bot, 2)
    assert sent.startswith("I sent you a direct message with your history (2 message(s))")
    [shared] = slack.shared_files
    assert (
        shared["channel"] == f"D{ALICE}" and shared["filename"] == f"threadline-slack-{ALICE}.jsonl"
    )
    lines = [json.loads(line) for line in shared["data"].decode().splitlines()]
    assert [(m["role"], m["content"], m["thread"]) for m in lines] == [
        ("user", "my secret", mine),
        ("assistant", "You said: my secret", mine),
    ]
    assert "This erases all 2 stored message(s)" in asked and kept == [
        "my secret",
        "You said: my secret",
    ]
    assert done.startswith("Done: 2 stored message(s) erased") and after == []
    assert others == ["bob's", "You said: bob's"]
    assert f"  {ALICE}: 1 requests" in usage
