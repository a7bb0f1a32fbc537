"""The Slack adapter: one Bolt ``AsyncApp`` over Socket Mode or HTTP, wired to the engine.

One workspace on ``SLACK_BOT_TOKEN`` (``auth.test`` says who the bot is), or, with
``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET``, every workspace installed through Bolt's OAuth flow
(``adapters.slack.oauth``): each request is then answered as, and with the token of, the bot of
its workspace (``adapters.slack.workspaces``).

``run`` owns every resource it opens (an aiohttp session, the Web API client, the transport)
and closes them when ``stop`` is set. Listeners only do quick work (store the question,
then start the answer in the background), so Slack always gets its ack within 3 seconds. Bolt
answers after the listener returns (``process_before_response=True``), so a listener that
raises ``StoreError`` turns into a 503 (HTTP mode) or no ack (Socket Mode), and Slack
delivers the event again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Protocol

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.actions import ButtonActions
from adapters.slack.api import TRANSPORT_ERRORS, build_client, error_code, method_name
from adapters.slack.commands import AdminPolicy, SlashCommands
from adapters.slack.config import SlackConfig
from adapters.slack.events import SlackEvents
from adapters.slack.failures import install_error_handler
from adapters.slack.http_mode import HttpTransport
from adapters.slack.installed import InstalledWorkspaces, client_options
from adapters.slack.notices import install_notices
from adapters.slack.oauth import Revocations, WorkspaceAuthorize, oauth_settings, open_stores
from adapters.slack.replies import ReplyBuilder, ReplyMaker
from adapters.slack.routing import Identity
from adapters.slack.shortcuts import MessageShortcuts
from adapters.slack.socket_mode import SocketTransport
from adapters.slack.tasks import TaskSet
from adapters.slack.users import UserDirectory
from adapters.slack.workspaces import OneWorkspace, Workspace, Workspaces
from bot.engine import ConversationEngine
from bot.errors import ConfigError
from bot.metrics import Metrics

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0


class Transport(Protocol):
    async def start(self) -> None: ...

    def connected(self) -> bool: ...

    async def close(self) -> None: ...


class SlackAdapter:
    """Serves Slack until told to stop."""

    name = "slack"

    def __init__(
        self,
        engine: ConversationEngine,
        replies: ReplyMaker,
        config: SlackConfig,
        database_url: str = "",
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._engine = engine
        self._metrics = metrics or Metrics.off()
        self._replies = replies
        self.config = config
        if config.oauth and not database_url:
            raise ConfigError("Slack's OAuth install keeps installations in DATABASE_URL: set it.")
        self._database_url = database_url
        self.transport: Transport | None = None
        self.replies: ReplyBuilder | None = None
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        config = self.config
        trace = self._metrics.http_trace("slack", method_name)  # Web API calls and 429s
        async with (
            aiohttp.ClientSession(trace_configs=[trace]) as session,
            contextlib.AsyncExitStack() as stack,
        ):
            client = build_client(session, config.api_url, None, config.api_timeout)
            tasks = TaskSet()
            if config.oauth:
                stores = await stack.enter_async_context(
                    open_stores(self._database_url, config.client_id)
                )
                options = client_options(session, config.api_url, config.api_timeout)
                installed = InstalledWorkspaces(stores.installations, options, tasks)
                revocations = Revocations(stores.installations, installed)
                settings = oauth_settings(config, stores)
                app = self._build_app(client, installed, tasks, settings, revocations)
            else:
                one = await self._one_workspace(session, tasks)
                app = self._build_app(client, one, tasks, None, None)
            self.transport = self._transport(app, client)
            try:
                await self.transport.start()
                assert self.replies is not None
                self._engine.serve_platform("slack", self.replies.rebuild)
                self.ready.set()
                await stop.wait()
            finally:
                self._engine.leave_platform("slack")
                await self.transport.close()
                await tasks.close(DRAIN_SECONDS)

    def connected(self) -> bool:
        """Socket Mode: the websocket is open now; HTTP mode: the server is up."""
        return self.ready.is_set() and self.transport is not None and self.transport.connected()

    async def _one_workspace(self, session: aiohttp.ClientSession, tasks: TaskSet) -> OneWorkspace:
        """The single-token mode's workspace: ``SLACK_BOT_TOKEN`` and who ``auth.test`` says."""
        config = self.config
        token = config.bot_token.get()
        client = build_client(session, config.api_url, token, config.api_timeout)
        me = await identify(client)
        return OneWorkspace(Workspace(me, token, client, UserDirectory(client, tasks)))

    def _transport(self, app: AsyncApp, client: AsyncWebClient) -> Transport:
        config = self.config
        if config.socket_mode:
            return SocketTransport(app, config.app_token.get(), client)
        return HttpTransport(
            app,
            config.http_host,
            config.http_port,
            signing_secret=config.signing_secret.get(),
            health=self._engine.healthy,
            oauth=app.oauth_flow,
        )

    def _build_app(
        self,
        client: AsyncWebClient,
        workspaces: Workspaces,
        tasks: TaskSet,
        settings: AsyncOAuthSettings | None,
        revocations: Revocations | None,
    ) -> AsyncApp:
        config = self.config
        replies = ReplyBuilder(
            workspaces.client,
            self._replies,
            native=config.native_streaming,
            allow_mentions=config.allow_mentions,
        )
        self.replies = replies
        app = new_app(client, config, workspaces, settings)
        events = SlackEvents(
            engine=self._engine,
            workspaces=workspaces,
            config=config,
            replies=replies,
            tasks=tasks,
        )
        admins = AdminPolicy(config.admin_users)
        actions = ButtonActions(
            engine=self._engine, workspaces=workspaces, replies=replies, tasks=tasks, admins=admins
        )
        commands = SlashCommands(
            engine=self._engine, workspaces=workspaces, admins=admins, tasks=tasks
        )
        register(app, events, actions, commands, revocations)
        shortcuts = MessageShortcuts(
            engine=self._engine, workspaces=workspaces, replies=replies, tasks=tasks
        )
        app.shortcut(re.compile("^threadline_"))(shortcuts.on_shortcut)
        return app


def new_app(
    client: AsyncWebClient,
    config: SlackConfig,
    workspaces: Workspaces,
    settings: AsyncOAuthSettings | None = None,
) -> AsyncApp:
    """A Bolt app that authorizes every request as the bot of its workspace (``Workspaces``),
    serving the OAuth install flow when ``settings`` are given.

    Listeners run before the response (so a failed store can answer 503); requests no
    listener takes and every exception go to ``adapters.slack.failures`` (one
    log line each, never a traceback), and ``app_rate_limited`` notices get 200.
    """
    app = AsyncApp(
        name="threadline",
        logger=bolt_logger(),
        client=client,
        # An AsyncAuthorize instance is taken as is (and may sit next to oauth_settings);
        # the annotation only names plain functions.
        authorize=WorkspaceAuthorize(workspaces),  # type: ignore[arg-type]
        oauth_settings=settings,
        signing_secret=config.signing_secret.get(),
        request_verification_enabled=not config.socket_mode,
        process_before_response=True,
        raise_error_for_unhandled_request=True,
        attaching_conversation_kwargs_enabled=False,
    )
    install_error_handler(app)
    install_notices(app)
    return app


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
    app: AsyncApp,
    events: SlackEvents,
    actions: ButtonActions,
    commands: SlashCommands,
    revocations: Revocations | None = None,
) -> None:
    """Every event the manifest subscribes to has a listener, so each one is acknowledged
    (``tokens_revoked`` / ``app_uninstalled`` delete tokens only when installed by OAuth)."""
    if revocations is not None:
        app.event("tokens_revoked")(revocations.on_tokens_revoked)
        app.event("app_uninstalled")(revocations.on_app_uninstalled)
    app.event("app_mention")(events.on_mention)
    app.event("message")(events.on_message)
    app.event("assistant_thread_started")(events.on_assistant_thread_started)
    app.event(re.compile(".*"))(events.on_other_event)
    app.action(re.compile("^threadline_"))(actions.on_action)
    app.command(re.compile(".*"))(commands.on_command)


async def identify(client: AsyncWebClient) -> Identity:
    """Who the bot token belongs to (``auth.test``, plus ``bots.info`` for the app id when
    ``auth.test`` does not name it); a bad token stops the start."""
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
        app_id=str(data.get("app_id") or "") or await _bot_app_id(client, data.get("bot_id")),
    )
    logger.info("Slack: signed in as @%s in workspace %s", me.name, me.workspace)
    return me


async def _bot_app_id(client: AsyncWebClient, bot_id: object) -> str:
    """Our app's id from ``bots.info`` (older Slack leaves it out of ``auth.test``); "" and a
    warning if Slack won't say: then only our own bot id and bot user count as ours."""
    info: object = None
    reason = "no bot id"
    if bot_id:
        try:
            info = (await client.bots_info(bot=str(bot_id))).data
        except (SlackApiError, *TRANSPORT_ERRORS) as exc:
            reason = f"bots.info: {error_code(exc)}"
    bot = info.get("bot") if isinstance(info, dict) else None
    if isinstance(bot, dict) and bot.get("app_id"):
        return str(bot["app_id"])
    logger.warning(
        "Slack did not tell Threadline its app id (%s); messages from other installs or "
        "webhooks of this app are not recognised as its own",
        reason,
    )
    return ""
