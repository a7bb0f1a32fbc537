"""Governance end to end through the Discord fake: role and channel rules (refusals by DM or
ephemerally), admin-only changes and their audit, usage, ``/forget`` with its button and
``/export`` with its file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.discord.harness import REGEN_PREFIX, finished, running_bot, stored_status
from tests.fakes.discord_api import EPHEMERAL, FakeDiscord, FakeInteraction, opt, sub
from tests.fakes.llm_server import FakeLLMServer, answer

ADMIN_ROLE = "Threadline Admin"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


async def reply(fake: FakeDiscord, interaction: FakeInteraction) -> tuple[str, bool]:
    callback: dict[str, Any] = await fake.responded(interaction)
    data = callback.get("data") or {}
    return str(data.get("content", "")), bool((data.get("flags") or 0) & EPHEMERAL)


async def dm_to(fake: FakeDiscord, user: str) -> str:
    """The bot's DM to ``user`` (waits for it)."""
    channel = fake.open_dm(user)
    [message] = await fake.wait_until(lambda: fake.bot_messages(channel))
    return message.content


async def test_roles_admit_members_and_others_are_told_by_dm(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with running_bot(fake, llm, tmp_path, ALLOWED_ROLES=ADMIN_ROLE.lower()):
        await fake.user_message(fake.general, "let me in", mention_bot=True)
        notice = await dm_to(fake, "alice")
        await fake.user_message(fake.general, "I have the role", author="helper", mention_bot=True)
        [thread] = await fake.wait_until(lambda: fake.threads_of(fake.general))
        await finished(fake, int(thread["id"]), text="You said: I have the role")
        refused, ephemeral = await reply(fake, await fake.slash("chat", [opt("prompt", "hi")]))
    assert "not on the list" in notice
    assert fake.bot_messages(fake.general) == []  # never a reply in the channel
    assert "not on the list" in refused and ephemeral
    assert len(llm.requests) == 1


async def test_regenerate_is_admitted_by_role_like_a_question(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    llm.enqueue(answer("First try."), answer("Second try."))
    async with running_bot(fake, llm, tmp_path, ALLOWED_ROLES=ADMIN_ROLE.lower()):
        await fake.user_message(fake.general, "pick one", author="helper", mention_bot=True)
        [thread] = await fake.wait_until(lambda: fake.threads_of(fake.general))
        [first] = await finished(fake, int(thread["id"]), text="First try.")
        regen = next(i for i in first.custom_ids() if i.startswith(REGEN_PREFIX))
        await fake.click(first.id, regen, user="helper")
        await finished(fake, int(thread["id"]), text="Second try.")
    assert len(llm.requests) == 2


async def test_blocked_channels_and_guilds(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with running_bot(fake, llm, tmp_path, ALLOWED_GUILDS="1234"):
        await fake.user_message(fake.general, "hello?", mention_bot=True)
        notice = await dm_to(fake, "alice")
        dm = fake.open_dm("bob")
        await fake.user_message(dm, "DMs have no guild", author="bob")
        await finished(fake, dm)
    assert "not enabled in this server" in notice
    async with running_bot(fake, llm, tmp_path, BLOCKED_CHANNELS="dm"):
        await fake.user_message(dm, "and now?", author="bob")
        await fake.wait_until(lambda: len(fake.bot_messages(dm)) == 2)
    assert "turned off in this channel" in fake.bot_messages(dm)[-1].content


async def test_admin_only_changes_usage_and_audit(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    prices = {"MODEL_PRICES": "fake-model=1.00/1.00"}
    async with running_bot(fake, llm, tmp_path, **prices):
        denied, _ = await reply(fake, await fake.slash("access", [opt("state", "closed")]))
        closed, _ = await reply(
            fake, await fake.slash("access", [opt("state", "closed")], user="mod")
        )
        await fake.user_message(fake.general, "closed?", mention_bot=True)
        notice = await dm_to(fake, "alice")
        options = [sub("set", opt("name", "access"), opt("value", "default"))]
        await reply(fake, await fake.slash("settings", options, user="mod"))
        await fake.slash("chat", [opt("prompt", "count me")])
        [thread] = await fake.wait_until(lambda: fake.threads_of(fake.general))
        await finished(fake, int(thread["id"]))
        usage = ""
        for _ in range(50):
            usage, private = await reply(fake, await fake.slash("usage", user="mod"))
            if "Total: 1 requests" in usage:
                break
            await asyncio.sleep(0.1)
        audit, _ = await reply(fake, await fake.slash("audit", user="mod"))
        audit_denied, _ = await reply(fake, await fake.slash("audit"))
    assert (
        denied.startswith("Only Threadline admins") and closed == "Access for this channel: closed."
    )
    assert "turned off in this channel" in notice
    mod = fake.users["mod"]["id"]
    assert "settings set access: closed → default" in audit.splitlines()[1]
    assert (
        f"{mod} in discord:{fake.guild_id}:{fake.general}: settings set access: default → closed"
        in audit
    )
    assert audit_denied.startswith("Only Threadline admins")
    assert private and "By model:\n  fake-model: 1 requests" in usage and "$0.000042" in usage


async def test_forget_needs_the_button_and_export_attaches_a_file(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with running_bot(fake, llm, tmp_path) as bot:
        dm = fake.open_dm("alice")
        await fake.user_message(dm, "keep this")
        await finished(fake, dm)
        await stored_status(bot.engine, _dm_key(dm), "complete")
        export = await fake.slash("export", channel_id=dm)
        await fake.wait_until(lambda: fake.original(export) and fake.original(export).files)
        attached = fake.original(export)
        asked = await fake.slash("forget", channel_id=dm)
        text, ephemeral = await reply(fake, asked)
        prompt = fake.original(asked)
        assert prompt is not None
        [button] = prompt.custom_ids()
        other = await fake.click(prompt.id, button, user="bob")
        not_yours, _ = await reply(fake, other)
        kept = [m.content for m in await bot.engine.export(_dm_key(dm))]
        pressed = await fake.click(prompt.id, button)
        await fake.responded(pressed)
        after = await bot.engine.export(_dm_key(dm))
    assert attached is not None and attached.ephemeral
    [(name, data)] = attached.files.items()
    assert name == f"threadline-discord-{fake.users['alice']['id']}.jsonl"
    assert [json.loads(line)["content"] for line in data.decode().splitlines()] == [
        "keep this",
        "You said: keep this",
    ]
    assert ephemeral and "This erases all 2 stored message(s)" in text
    assert not_yours == "This button is not yours." and kept == ["keep this", "You said: keep this"]
    assert prompt.content.startswith("Done: 2 stored message(s) erased") and after == []


def _dm_key(channel: int):
    from adapters.discord.keys import dm_key

    return dm_key(channel)
