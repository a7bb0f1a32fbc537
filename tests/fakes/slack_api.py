"""A loopback fake of Slack (Web API + Socket Mode + response_url), scripted by tests.

::

    async with FakeSlack() as slack:                     # 127.0.0.1, a free port
        env = {"SLACK_API_URL": slack.base_url, "SLACK_BOT_TOKEN": slack.bot_token,
               "SLACK_APP_TOKEN": slack.app_token}
        ts = slack.user_says("C1", "<@U0BOT> hi")        # a message in Slack's state
        await slack.socket.send("events_api", slack.event(slack.last_event))  # push it
        reply = await slack.wait_for(lambda: slack.replies("C1", ts))

Web API (``POST /api/<method>``, JSON or form bodies, bearer token): ``auth.test``,
``apps.connections.open`` (app token; returns the ``/socket`` websocket on this server),
``chat.postMessage``, ``chat.update``, ``chat.delete``, ``chat.postEphemeral``,
``chat.startStream``/``appendStream``/``stopStream`` (``markdown_text`` and chunks; streams
expire after ``stream_ttl`` seconds or on ``expire_streams()``, then answer
``message_not_in_streaming_state``), ``assistant.threads.setStatus``/``setTitle``/
``setSuggestedPrompts``, ``users.info``, ``bots.info`` (the bot, or ``add_bot`` ones),
``conversations.open`` and ``files.uploadV2``'s methods (``tests.fakes.slack_files``). Anything
else: ``unknown_method``. ``auth.test`` names the app (``app_id``) only with
``auth_test_app_id = True``, like newer Slack; otherwise ``bots.info`` is the way to learn it.

Several workspaces (the OAuth install): ``approve(team, bot_user, bot_id)`` is a user approving
the install in ``team``; it returns the ``code`` Slack puts on the redirect, which
``oauth.v2.access`` (client id and secret as HTTP Basic auth or form fields) exchanges for a new
bot token of that workspace; ``auth.test`` with such a token describes that workspace's bot;
``revoke(team)`` invalidates its tokens; ``event(..., team=)`` wraps an event from it. Every
call's token is in ``calls``; messages posted with any token carry the fake's ``bot_id``.

Faults: ``limit(method, per_minute)`` (per workspace; 429 + ``Retry-After`` beyond it),
``rate_limit_next(method, count, retry_after)``, ``fail_next(method, error, count, status)``,
``unknown_methods`` (e.g. the stream methods, as on an old Slack), ``reject_block_chunks``,
``reject_markdown_blocks`` (an older Slack without the ``markdown`` block), ``hold(method)``
(calls wait unanswered until the returned event is set).
Everything received is in ``calls``; response_url posts are in ``responses``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.slack_files import SlackFiles
from tests.fakes.slack_payloads import APP_ID, event_callback, message_event
from tests.fakes.slack_socket import SocketHub
from tests.fakes.slack_state import Call, Limit, Message, RateLimiter, Timestamps

TEAM = "T0TEAM"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
CHUNK_TYPES = {"markdown_text", "task_update", "plan_update", "blocks"}


CLIENT_ID = "1111.2222"
CLIENT_SECRET = "fake-client-secret"


@dataclass
class Install:
    """Threadline's bot in one workspace, installed through OAuth."""

    team: str
    bot_user: str
    bot_id: str
    token: str = ""


class SlackError(Exception):
    def __init__(self, error: str, status: int = 200, headers: dict[str, str] | None = None):
        super().__init__(error)
        self.error, self.status, self.headers = error, status, headers or {}


class FakeSlack(SlackFiles):
    """One workspace with one bot; see the module docstring."""

    def __init__(
        self, *, stream_ttl: float | None = None, clock: Callable[[], float] = time.monotonic
    ):
        self.team, self.bot_user, self.bot_id = TEAM, BOT_USER, BOT_ID
        self.app_id = APP_ID
        self.auth_test_app_id = False
        self.bots: dict[str, dict[str, Any]] = {}
        self.bot_token, self.app_token = "xoxb-fake-bot-token", "xapp-fake-app-token"
        self.stream_ttl = stream_ttl
        self.clock = clock
        self.calls: list[Call] = []
        self.messages: dict[str, dict[str, Message]] = collections.defaultdict(dict)
        self.users: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.rates = RateLimiter(clock)
        self.failures: dict[str, collections.deque[tuple[str, int]]] = collections.defaultdict(
            collections.deque
        )
        self.unknown_methods: set[str] = set()
        self.reject_block_chunks = False
        self.reject_markdown_blocks = False
        self.holds: dict[str, asyncio.Event] = {}
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self.codes: dict[str, Install] = {}
        self.installs: dict[str, Install] = {}
        self._caller: Install | None = None
        self._serial = itertools.count(1)
        self.changed = asyncio.Event()
        self.socket = SocketHub(self.changed)
        self._ts = Timestamps()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_get("/socket", self.socket.handle)
        app.router.add_post("/response/{id}", self._response_url)
        self.init_files(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    # -- scripting ----------------------------------------------------------------------

    def limit(self, method: str, per_minute: int, retry_after: int = 1) -> None:
        self.rates.limits[method] = Limit(per_minute, retry_after)

    def rate_limit_next(self, method: str, count: int, retry_after: int = 1) -> None:
        self.rates.bursts[method].extend([retry_after] * count)

    def fail_next(
        self, method: str, error: str = "internal_error", count: int = 1, status: int = 200
    ) -> None:
        self.failures[method].extend([(error, status)] * count)

    def hold(self, method: str) -> asyncio.Event:
        """Calls to ``method`` wait (unanswered) until the returned event is set."""
        self.holds[method] = asyncio.Event()
        return self.holds[method]

    def expire_streams(self) -> None:
        for channel in self.messages.values():
            for message in channel.values():
                if message.streaming:
                    message.streaming, message.expired = False, True

    def add_user(self, user_id: str, name: str, *, admin: bool = False) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team,
            "name": name.lower(),
            "real_name": name,
            "is_admin": admin,
            "is_owner": False,
            "profile": {"display_name": name, "real_name": name},
        }

    def add_bot(self, bot_id: str, user_id: str, app_id: str, name: str = "otherbot") -> None:
        """Another bot in the workspace (``bots.info`` describes it)."""
        self.bots[bot_id] = {"id": bot_id, "app_id": app_id, "user_id": user_id, "name": name}

    def approve(self, team: str, *, bot_user: str, bot_id: str) -> str:
        """A user approves the install in ``team``: the one-time code for the redirect."""
        code = f"code-{team}-{next(self._serial)}"
        self.codes[code] = Install(team, bot_user, bot_id)
        return code

    def revoke(self, team: str) -> None:
        """Slack invalidates the workspace's tokens (uninstall, revocation)."""
        self.installs = {t: i for t, i in self.installs.items() if i.team != team}

    def token_of(self, team: str) -> str:
        """The current bot token of an installed workspace."""
        return next(i.token for i in self.installs.values() if i.team == team)

    # -- the workspace, as users see it -------------------------------------------------

    def user_says(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0ALICE",
        thread_ts: str | None = None,
        team: str | None = None,
    ) -> dict[str, Any]:
        """A person posts a message; returns the ``message`` event Slack would send."""
        ts = self._ts.next()
        self.messages[channel][ts] = Message(channel, ts, text=text, user=user, thread_ts=thread_ts)
        kind = "im" if channel.startswith("D") else "channel"
        return message_event(
            channel=channel,
            ts=ts,
            text=text,
            user=user,
            team=team or self.team,
            thread_ts=thread_ts,
            channel_type=kind,
        )

    def event(
        self, event: dict[str, Any], event_id: str | None = None, *, team: str | None = None
    ) -> dict[str, Any]:
        return event_callback(event, team=team or self.team, event_id=event_id)

    def bot_messages(self, channel: str) -> list[Message]:
        return [m for m in self.messages[channel].values() if m.bot_id == self.bot_id]

    def replies(self, channel: str, thread_ts: str) -> list[Message]:
        """The bot's messages in a thread, oldest first."""
        return [m for m in self.bot_messages(channel) if m.thread_ts == thread_ts]

    def answer_text(self, channel: str, thread_ts: str | None) -> str:
        """All the bot's messages of a thread (or of a channel's top level) joined."""
        found = [m for m in self.bot_messages(channel) if m.thread_ts == thread_ts]
        return "".join(m.visible_text for m in found)

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, check: Callable[[], Any], within: float = 10.0) -> Any:
        """Wait until ``check()`` is truthy (re-checked whenever the fake changes)."""
        async with asyncio.timeout(within):
            while not (result := check()):
                self.changed.clear()
                await self.changed.wait()
            return result

    # -- HTTP ---------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = token or str(args.pop("token", ""))
        call = Call(method, args, token)
        self.calls.append(call)
        self.changed.set()
        if method in self.holds:
            await self.holds[method].wait()
        try:
            body = self._dispatch(method, args, token)
        except SlackError as exc:
            call.status, call.error = exc.status, exc.error
            body = {"ok": False, "error": exc.error}
            return web.json_response(body, status=exc.status, headers=exc.headers)
        finally:
            self.changed.set()
        return web.json_response({"ok": True, **body})

    async def _response_url(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        self.changed.set()
        return web.Response(text="ok")

    def _dispatch(self, method: str, args: dict[str, Any], token: str) -> dict[str, Any]:
        if method == "oauth.v2.access":
            return self._oauth_v2_access(args, token)
        install = self.installs.get(token) if method != "apps.connections.open" else None
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected and install is None:
            raise SlackError("invalid_auth")
        if method in self.unknown_methods:
            raise SlackError("unknown_method")
        if self.failures[method]:
            error, status = self.failures[method].popleft()
            raise SlackError(error, status)
        retry_after = self.rates.check(install.team if install else self.team, method)
        if retry_after is not None:
            raise SlackError("ratelimited", 429, {"Retry-After": str(retry_after)})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            raise SlackError("unknown_method")
        self._caller = install
        try:
            result: dict[str, Any] = handler(args)
        finally:
            self._caller = None
        return result

    def _oauth_v2_access(self, args: dict[str, Any], authorization: str) -> dict[str, Any]:
        """The code from the redirect for a new bot token (``oauth.v2.access``)."""
        client = (str(args.get("client_id") or ""), str(args.get("client_secret") or ""))
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
            client = tuple(decoded.split(":", 1))  # type: ignore[assignment]
        if client != (self.client_id, self.client_secret):
            raise SlackError("invalid_client_id")
        install = self.codes.pop(str(args.get("code") or ""), None)
        if install is None:
            raise SlackError("invalid_code")
        install.token = f"xoxb-{install.team}-{next(self._serial)}"
        self.installs[install.token] = install
        return {
            "access_token": install.token,
            "token_type": "bot",
            "scope": "app_mentions:read,chat:write,commands",
            "bot_user_id": install.bot_user,
            "app_id": self.app_id,
            "team": {"id": install.team, "name": f"Team {install.team}"},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": "U0INSTALLER"},
        }

    # -- methods ------------------------------------------------------------------------

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        caller = self._caller or Install(self.team, self.bot_user, self.bot_id)
        data = {
            "url": "https://test.slack.com/",
            "team": "Test",
            "user": "threadline",
            "team_id": caller.team,
            "user_id": caller.bot_user,
            "bot_id": caller.bot_id,
        }
        return {**data, "app_id": self.app_id} if self.auth_test_app_id else data

    def _m_bots_info(self, args: dict[str, Any]) -> dict[str, Any]:
        bot_id = str(args.get("bot") or "")
        if bot_id == self.bot_id:
            return {"bot": {"id": bot_id, "app_id": self.app_id, "user_id": self.bot_user}}
        if bot_id not in self.bots:
            raise SlackError("bot_not_found")
        return {"bot": self.bots[bot_id]}

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/socket?ticket={len(self.calls)}"}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = _required(args, "channel")
        _check_content(args, markdown_blocks=not self.reject_markdown_blocks)
        message = Message(
            channel,
            self._ts.next(),
            bot_id=self.bot_id,
            user=self.bot_user,
            thread_ts=args.get("thread_ts") or None,
        )
        _apply_content(message, args)
        self.messages[channel][message.ts] = message
        return {"channel": channel, "ts": message.ts, "message": message.as_event_message()}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._own_message(args)
        _check_content(args, markdown_blocks=not self.reject_markdown_blocks)
        message.streaming, message.streamed, message.stream_blocks = False, "", []
        _apply_content(message, args)
        message.edits += 1
        return {"channel": message.channel, "ts": message.ts, "text": message.text}

    def _m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._own_message(args)
        del self.messages[message.channel][message.ts]
        return {"channel": message.channel, "ts": message.ts}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        _required(args, "channel"), _required(args, "user")
        self.ephemerals.append(args)
        return {"message_ts": self._ts.next()}

    def _m_chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = _required(args, "channel")
        if not channel.startswith("D") and not (
            args.get("recipient_user_id") and args.get("recipient_team_id")
        ):
            raise SlackError("invalid_arguments")
        message = Message(
            channel,
            self._ts.next(),
            bot_id=self.bot_id,
            user=self.bot_user,
            thread_ts=args.get("thread_ts") or None,
            streaming=True,
            stream_started=self.clock(),
        )
        self._stream_content(message, args)
        self.messages[channel][message.ts] = message
        return {"channel": channel, "ts": message.ts}

    def _m_chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._live_stream(args)
        if not args.get("markdown_text") and not args.get("chunks"):
            raise SlackError("invalid_arguments")
        self._stream_content(message, args)
        return {"channel": message.channel, "ts": message.ts}

    def _m_chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._live_stream(args)
        self._stream_content(message, args)
        message.stream_blocks.extend(_blocks(args.get("blocks")))
        message.streaming = False
        return {"channel": message.channel, "ts": message.ts, "message": message.as_event_message()}

    def _m_assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        _required(args, "channel_id"), _required(args, "thread_ts")
        return {}

    def _m_assistant_threads_setTitle(self, args: dict[str, Any]) -> dict[str, Any]:
        _required(args, "channel_id"), _required(args, "title")
        return {}

    def _m_assistant_threads_setSuggestedPrompts(self, args: dict[str, Any]) -> dict[str, Any]:
        prompts = args.get("prompts")
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= 4:
            raise SlackError("invalid_arguments")
        return {}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    # -- helpers ------------------------------------------------------------------------

    def _own_message(self, args: dict[str, Any]) -> Message:
        channel, ts = _required(args, "channel"), _required(args, "ts")
        message = self.messages[channel].get(ts)
        if message is None:
            raise SlackError("message_not_found")
        if message.bot_id != self.bot_id:
            raise SlackError("cant_update_message")
        return message

    def _live_stream(self, args: dict[str, Any]) -> Message:
        message = self._own_message(args)
        ttl = self.stream_ttl
        if message.streaming and ttl is not None and self.clock() - message.stream_started > ttl:
            message.streaming, message.expired = False, True
        if not message.streaming:
            raise SlackError("message_not_in_streaming_state")
        return message

    def _stream_content(self, message: Message, args: dict[str, Any]) -> None:
        if args.get("markdown_text"):
            message.streamed += str(args["markdown_text"])
        for chunk in _chunks(args.get("chunks")):
            if chunk.get("type") not in CHUNK_TYPES:
                raise SlackError("invalid_chunks")
            if chunk["type"] == "blocks":
                if self.reject_block_chunks:
                    raise SlackError("invalid_chunks")
                message.stream_blocks.extend(_blocks(chunk.get("blocks")))
            elif chunk["type"] == "markdown_text":
                message.streamed += str(chunk.get("text", ""))
        message.snapshot()


async def _arguments(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        args.update(body if isinstance(body, dict) else {})
    elif request.can_read_body:
        args.update(dict(await request.post()))
    for name in ("blocks", "chunks", "prompts", "attachments"):
        if isinstance(args.get(name), str):
            args[name] = json.loads(args[name])
    return args


def _required(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not value:
        raise SlackError("invalid_arguments" if name != "channel" else "channel_not_found")
    return str(value)


def _check_content(args: dict[str, Any], *, markdown_blocks: bool = True) -> None:
    markdown = args.get("markdown_text")
    if markdown and (args.get("text") or args.get("blocks")):
        raise SlackError("invalid_arguments")
    if not (markdown or args.get("text") or args.get("blocks")):
        raise SlackError("no_text")
    if len(str(markdown or "")) > 12_000 or len(str(args.get("text") or "")) > 40_000:
        raise SlackError("msg_too_long")
    blocks = _blocks(args.get("blocks"))
    if not markdown_blocks and any(b.get("type") == "markdown" for b in blocks):
        raise SlackError("invalid_blocks")
    if (
        len(blocks) > 50
        or sum(len(b.get("text", "")) for b in blocks if b.get("type") == "markdown") > 12_000
    ):
        raise SlackError("invalid_blocks")


def _apply_content(message: Message, args: dict[str, Any]) -> None:
    message.text = str(args.get("text") or "")
    message.blocks = _blocks(args.get("blocks"))
    message.markdown_text = str(args.get("markdown_text") or "")
    message.snapshot()


def _blocks(value: Any) -> list[dict[str, Any]]:
    return [b for b in value if isinstance(b, dict)] if isinstance(value, list) else []


def _chunks(value: Any) -> list[dict[str, Any]]:
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []
