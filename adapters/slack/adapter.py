"""The Slack adapter: one Bolt ``AsyncApp`` over Socket Mode or HTTP, wired to the engine.

``run`` owns every resource it opens (an aiohttp session, the Web API client, the transport)
and closes them when ``stop`` is set. Bolt acknowledges events before listeners run
(``process_before_response=False``), and listeners only start background work, so Slack
always gets its ack within 3 seconds.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Protocol

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.actions import ButtonActions
from adapters.slack.api import TRANSPORT_ERRORS, build_client, error_code
from adapters.slack.budget import StreamBudgets
from adapters.slack.commands import AdminPolicy, SlashCommands
from adapters.slack.config import SlackConfig
from adapters.slack.events import SlackEvents
from adapters.slack.http_mode import HttpTransport
from adapters.slack.replies import ReplyBuilder, ReplyMaker
from adapters.slack.routing import Identity
from adapters.slack.socket_mode import SocketTransport
from adapters.slack.tasks import TaskSet
from adapters.slack.users import UserDirectory
from bot.engine import ConversationEngine
from bot.errors import ConfigError

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0


class Transport(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...


class SlackAdapter:
    """Serves Slack until told to stop."""

    name = "slack"

    def __init__(
        self, engine: ConversationEngine, replies: ReplyMaker, config: SlackConfig
    ) -> None:
        self._engine = engine
        self._replies = replies
        self.config = config
        self.transport: Transport | None = None
        self.replies: ReplyBuilder | None = None
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        config = self.config
        async with aiohttp.ClientSession() as session:
            client = build_client(
                session, config.api_url, config.bot_token.get(), config.api_timeout
            )
            me = await identify(client)
            tasks = TaskSet()
            app = self._build_app(session, client, me, tasks)
            self.transport = self._transport(app, client)
            try:
                await self.transport.start()
                self.ready.set()
                await stop.wait()
            finally:
                await self.transport.close()
                await tasks.close(DRAIN_SECONDS)

    def _transport(self, app: AsyncApp, client: AsyncWebClient) -> Transport:
        config = self.config
        if config.socket_mode:
            return SocketTransport(app, config.app_token.get(), client)
        return HttpTransport(app, config.http_host, config.http_port)

    def _build_app(
        self, session: aiohttp.ClientSession, client: AsyncWebClient, me: Identity, tasks: TaskSet
    ) -> AsyncApp:
        config = self.config
        replies = ReplyBuilder(
            client, self._replies, native=config.native_streaming, budgets=StreamBudgets()
        )
        self.replies = replies
        users = UserDirectory(client, tasks)
        app = new_app(session, config, me)
        events = SlackEvents(
            engine=self._engine,
            me=me,
            config=config,
            replies=replies,
            users=users,
            tasks=tasks,
            client=client,
        )
        actions = ButtonActions(
            engine=self._engine, me=me, replies=replies, tasks=tasks, client=client
        )
        admins = AdminPolicy(config.admin_users, users)
        commands = SlashCommands(engine=self._engine, me=me, admins=admins, tasks=tasks)
        register(app, events, actions, commands)
        return app


def new_app(session: aiohttp.ClientSession, config: SlackConfig, me: Identity) -> AsyncApp:
    """A Bolt app that authorizes every request with the identity ``auth.test`` gave us."""
    token = config.bot_token.get()

    async def authorize() -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=None,
            team_id=me.workspace,
            bot_user_id=me.user_id,
            bot_id=me.bot_id,
            bot_token=token,
        )

    return AsyncApp(
        name="threadline",
        logger=bolt_logger(),
        client=build_client(session, config.api_url, None, config.api_timeout),
        authorize=authorize,
        signing_secret=config.signing_secret.get(),
        request_verification_enabled=not config.socket_mode,
        process_before_response=False,
        attaching_conversation_kwargs_enabled=False,
    )


class _TokenNotice(logging.Filter):
    """Drops Bolt's notice that an env ``SLACK_BOT_TOKEN`` is unused (we authorize ourselves)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def bolt_logger() -> logging.Logger:
    """The logger Bolt gets, without its misleading token notice."""
    bolt = logging.getLogger("slack_bolt.threadline")
    if not any(isinstance(f, _TokenNotice) for f in bolt.filters):
        bolt.addFilter(_TokenNotice())
    return bolt


def register(
    app: AsyncApp, events: SlackEvents, actions: ButtonActions, commands: SlashCommands
) -> None:
    """Every event the manifest subscribes to has a listener, so each one is acknowledged."""
    app.event("app_mention")(events.on_mention)
    app.event("message")(events.on_message)
    app.event("assistant_thread_started")(events.on_assistant_thread_started)
    app.event(re.compile(".*"))(events.on_other_event)
    app.action(re.compile("^threadline_"))(actions.on_action)
    app.command(re.compile(".*"))(commands.on_command)


async def identify(client: AsyncWebClient) -> Identity:
    """Who the bot token belongs to (``auth.test``); a bad token stops the start."""
    try:
        data = (await client.auth_test()).data
    except SlackApiError as exc:
        code = error_code(exc)
        raise ConfigError(
            f"SLACK_BOT_TOKEN was rejected by Slack ({code}): copy the Bot User OAuth Token "
            "(xoxb-…) from OAuth & Permissions after installing the app."
        ) from None
    except TRANSPORT_ERRORS as exc:
        raise ConfigError(
            f"Cannot reach the Slack API at {client.base_url} ({type(exc).__name__}: {exc}); "
            "check the network or SLACK_API_URL."
        ) from None
    if not isinstance(data, dict) or not data.get("user_id") or not data.get("team_id"):
        raise ConfigError("auth.test did not describe a bot user; is SLACK_BOT_TOKEN a bot token?")
    me = Identity(
        workspace=str(data["team_id"]),
        user_id=str(data["user_id"]),
        bot_id=str(data.get("bot_id") or ""),
        name=str(data.get("user") or "Threadline"),
    )
    logger.info("Slack: signed in as @%s in workspace %s", me.name, me.workspace)
    return me
