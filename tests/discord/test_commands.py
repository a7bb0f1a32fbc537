"""/reset, /settings show|set (permissions, validation), /usage, command sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.model import ConversationKey
from bot.store.sql import open_store
from tests.discord.harness import (
    Bot,
    eventually,
    finished,
    running_bot,
    stored_status,
    user_contents,
)
from tests.fakes.discord_api import EPHEMERAL, FakeDiscord, FakeInteraction, opt, sub
from tests.fakes.llm_server import FakeLLMServer


async def _reply(fake: FakeDiscord, interaction: FakeInteraction) -> tuple[str, bool]:
    callback: dict[str, Any] = await fake.responded(interaction)
    data = callback.get("data") or {}
    return str(data.get("content", "")), bool((data.get("flags") or 0) & EPHEMERAL)


async def _set(fake: FakeDiscord, name: str, value: str, user: str = "alice") -> tuple[str, bool]:
    options = [sub("set", opt("name", name), opt("value", value))]
    return await _reply(fake, await fake.slash("settings", options, user=user))


async def test_settings_show_is_ephemeral(bot: Bot) -> None:
    text, ephemeral = await _reply(bot.fake, await bot.fake.slash("settings", [sub("show")]))
    assert ephemeral
    assert "model = fake-model" in text and "temperature = default" in text


async def test_changing_settings_needs_manage_server(bot: Bot) -> None:
    text, ephemeral = await _set(bot.fake, "temperature", "0.3", user="alice")
    assert ephemeral and "Only Threadline admins" in text
    text, ephemeral = await _set(bot.fake, "temperature", "0.3", user="mod")
    assert not ephemeral and "temperature updated" in text
    dm = bot.fake.open_dm("alice")
    await bot.fake.user_message(bot.fake.general, "hello", mention_bot=True)
    thread = await bot.fake.wait_until(lambda: bot.fake.threads_of(bot.fake.general))
    await finished(bot.fake, int(thread[0]["id"]))
    assert bot.llm.requests[-1].body["temperature"] == 0.3  # threads inherit the channel's
    assert dm


async def test_an_admin_role_can_change_settings(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with running_bot(fake, llm, tmp_path, DISCORD_ADMIN_ROLE="threadline admin"):
        text, ephemeral = await _set(fake, "system_prompt", "You are a pirate.", user="helper")
        assert not ephemeral and "system_prompt updated" in text
        await fake.slash("chat", [opt("prompt", "ahoy")])
        thread = await fake.wait_until(lambda: fake.threads_of(fake.general))
        await finished(fake, int(thread[0]["id"]))
    assert llm.requests[-1].body["messages"][0]["content"] == "You are a pirate."


async def test_a_bad_value_is_refused_ephemerally(bot: Bot) -> None:
    text, ephemeral = await _set(bot.fake, "top_p", "7", user="mod")
    assert ephemeral and text.startswith("Not changed:") and "top_p" in text
    shown, _ = await _reply(bot.fake, await bot.fake.slash("settings", [sub("show")]))
    assert "top_p = default" in shown


async def test_reset_starts_a_fresh_conversation(bot: Bot) -> None:
    fake = bot.fake
    dm = fake.open_dm("alice")
    await fake.user_message(dm, "remember me")
    await finished(fake, dm)
    text, ephemeral = await _reply(fake, await fake.slash("reset", channel_id=dm))
    assert not ephemeral and "starts fresh" in text
    await fake.user_message(dm, "who am I?")
    await finished(fake, dm, count=2, text="You said: who am I?")
    assert user_contents(bot.llm) == ["who am I?"]


async def test_usage_reports_tokens(bot: Bot) -> None:
    fake = bot.fake
    await fake.slash("chat", [opt("prompt", "count me")])
    thread = await fake.wait_until(lambda: fake.threads_of(fake.general))
    await finished(fake, int(thread[0]["id"]))
    key = ConversationKey("discord", str(fake.guild_id), str(fake.general), thread[0]["id"])
    await stored_status(bot.engine, key, "complete")

    async def counted() -> bool:
        return "1 requests" in await bot.engine.usage_report("discord", str(fake.guild_id))

    await eventually(counted)
    text, ephemeral = await _reply(fake, await fake.slash("usage"))
    assert ephemeral and "1 requests" in text


async def test_commands_are_registered_once_and_globally(bot: Bot, tmp_path: Path) -> None:
    names = sorted(c["name"] for c in bot.fake.commands["global"])
    assert names == [
        "Summarize",
        "Translate",
        "access",
        "audit",
        "chat",
        "export",
        "forget",
        "reset",
        "settings",
        "usage",
    ]
    settings = next(c for c in bot.fake.commands["global"] if c["name"] == "settings")
    set_options = next(o for o in settings["options"] if o["name"] == "set")["options"]
    choices = [c["value"] for c in set_options[0]["choices"]]
    assert "system_prompt" in choices and "temperature" in choices and "logit_bias" in choices
    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'threadline.db'}") as store:
        stored = await store.get_state(f"discord.commands:{bot.fake.app_id}:global")
    assert stored is not None and len(stored) == 64  # the hash of what was registered
    assert bot.fake.command_puts == ["global"]


async def test_a_dev_guild_gets_guild_commands(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with running_bot(fake, llm, tmp_path, DISCORD_DEV_GUILD=str(fake.guild_id)):
        text, _ = await _reply(fake, await fake.slash("settings", [sub("show")]))
    assert fake.command_puts == [str(fake.guild_id)]
    assert "model = fake-model" in text
    async with running_bot(fake, llm, tmp_path, DISCORD_SYNC_COMMANDS="always"):
        pass
    assert fake.command_puts == [str(fake.guild_id), "global"]
