"""An in-process Threadline (real core, real store, real adapter) against the Slack and LLM fakes.

``Bot`` is what the composition root builds, minus the process: tests can restart it on the
same database, swap settings, and reach the adapter (for the HTTP port).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.slack import SlackAdapter, load_config
from adapters.slack.replies import ReplyBuilder
from bot.app import open_core
from bot.config import EnvReader, load_settings
from bot.engine import ConversationEngine
from bot.model import ConversationKey
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import block_action, mention_event, slash_command
from tests.fakes.slack_state import Message

CHANNEL = "C0GENERAL"
DM = "D0ALICE"
ALICE = "U0ALICE"
BOB = "U0BOB"
ADMIN = "U0ADMIN"


def bot_env(slack: FakeSlack, llm: FakeLLMServer, db: Path, **extra: str) -> dict[str, str]:
    """The environment a user would set, pointing at the fakes (Socket Mode by default)."""
    env = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.base_url,
        "LLM_API_KEY": "sk-test",
        "LLM_BASE_URL": llm.base_url,
        "LLM_MODEL": "fake-model",
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


@dataclass
class Driver:
    """Acts in the fake workspace the way Slack and its users would."""

    slack: FakeSlack

    async def deliver(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> dict[str, Any]:
        """Push one event over Socket Mode and wait for its ack."""
        envelope = await self.slack.socket.send(
            "events_api", self.slack.event(event, event_id), retry_attempt=retry
        )
        return await envelope.ack()

    async def say(
        self, text: str, *, channel: str = CHANNEL, thread: str | None = None, user: str = ALICE
    ) -> dict[str, Any]:
        """A user posts a message (``message.*`` event only); returns the event."""
        message = self.slack.user_says(channel, text, thread_ts=thread, user=user)
        await self.deliver(message)
        return message

    async def mention(
        self, text: str, *, channel: str = CHANNEL, thread: str | None = None, user: str = ALICE
    ) -> str:
        """A user mentions the bot: Slack sends ``message`` and ``app_mention``; returns the ts."""
        mention = f"<@{self.slack.bot_user}> {text}"
        message = self.slack.user_says(channel, mention, thread_ts=thread, user=user)
        await self.deliver(message)
        await self.deliver(mention_event(message))
        return str(message["ts"])

    async def finished(self, channel: str, thread: str | None, count: int = 1) -> list[Message]:
        """Wait until ``count`` answers in the thread show their final buttons; return all."""

        def done() -> list[Message] | None:
            found = [m for m in self.slack.bot_messages(channel) if m.thread_ts == thread]
            final = [m for m in found if _is_final(m)]
            return found if len(final) >= count and not any(m.streaming for m in found) else None

        result: list[Message] = await self.slack.wait_for(done)
        return result

    async def click(self, message: Message, action_id: str, *, user: str = ALICE) -> None:
        """A user clicks one of the bot's buttons."""
        payload = block_action(
            action_id=action_id,
            value=message.button_value(action_id),
            user=user,
            team=self.slack.team,
            channel=message.channel,
            message=message.as_event_message(),
            response_url=self.slack.response_url("action"),
        )
        envelope = await self.slack.socket.send("interactive", payload)
        await envelope.ack()

    async def command(self, text: str, *, user: str = ALICE, channel: str = CHANNEL) -> str:
        """``/threadline <text>``; the ephemeral answer (from the ack or the response_url)."""
        payload = slash_command(
            text=text,
            user=user,
            channel=channel,
            team=self.slack.team,
            response_url=self.slack.response_url("command"),
            command="/threadline",
        )
        envelope = await self.slack.socket.send(
            "slash_commands", payload, accepts_response_payload=True
        )
        ack = await envelope.ack()
        assert ack.get("response_type", "ephemeral") == "ephemeral"
        return str(ack.get("text", ""))


@dataclass
class Bot(Driver):
    """A running in-process Threadline with the Slack adapter."""

    llm: FakeLLMServer = field(default=None)  # type: ignore[assignment]
    engine: ConversationEngine = field(default=None)  # type: ignore[assignment]
    adapter: SlackAdapter = field(default=None)  # type: ignore[assignment]
    env: dict[str, str] = field(default_factory=dict)

    def adapter_replies(self) -> ReplyBuilder:
        assert self.adapter.replies is not None
        return self.adapter.replies

    async def history(self, channel: str, thread: str) -> list[str]:
        key = ConversationKey("slack", self.slack.team, channel, thread)
        return [m.content for m in await self.engine.export(key)]

    async def history_becomes(
        self, channel: str, thread: str, check: Callable[[list[str]], bool]
    ) -> list[str]:
        """Poll the stored history (events are handled after their ack) until ``check``."""
        async with asyncio.timeout(5):
            while True:
                found = await self.history(channel, thread)
                if check(found):
                    return found
                await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_bot(
    slack: FakeSlack, llm: FakeLLMServer, db: Path, **extra: str
) -> AsyncIterator[Bot]:
    """Start core + Slack adapter; stop them cleanly (engine first, like the CLI)."""
    env = bot_env(slack, llm, db, **extra)
    reader = EnvReader(env)
    settings = load_settings(reader)
    async with open_core(settings) as core:
        adapter = SlackAdapter(core.engine, core.replies, load_config(reader))
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(stop))
        ready = asyncio.create_task(adapter.ready.wait())
        await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            ready.cancel()
            task.result()
        try:
            yield Bot(slack, llm, core.engine, adapter, env)
        finally:
            await asyncio.wait_for(core.engine.close(), 10)
            stop.set()
            await asyncio.wait_for(task, 15)


def _is_final(message: Message) -> bool:
    buttons = message.action_ids
    return "threadline_regenerate" in buttons and "threadline_stop" not in buttons


def llm_user_texts(llm: FakeLLMServer, index: int = -1) -> list[str]:
    """The user/assistant contents of one recorded completion request."""
    messages: list[Mapping[str, Any]] = llm.requests[index].body["messages"]
    return [str(m["content"]) for m in messages if m["role"] != "system"]
