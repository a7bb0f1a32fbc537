"""A loopback fake of Discord: REST API v10 plus the gateway, scripted by tests.

    async with FakeDiscord() as fake:
        env = fake.env()                       # DISCORD_TOKEN, DISCORD_API_BASE, ...
        ...start the bot...
        await fake.wait_ready()
        inter = await fake.slash("chat", [opt("prompt", "hi")])
        thread = await fake.wait_until(lambda: fake.threads_of(fake.general))

One guild ("Fake Guild") with a text channel ``general``, a voice channel, members ``alice``
and ``bob`` (plain members), ``mod`` (Manage Server) and ``helper`` (has the role named
``Threadline Admin``), and another bot ``otherbot``. State (channels, messages with their edit
history, interactions, commands) is inspectable; rate limits and errors are injectable
(``limits``, ``inject``).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from tests.fakes import discord_payloads as p
from tests.fakes.discord_gateway import Gateway, GatewaySession
from tests.fakes.discord_limits import Fault, Limits
from tests.fakes.discord_rest import build_routes

T = TypeVar("T")
EPHEMERAL = 1 << 6
LOADING = 1 << 7


@dataclass
class StoredMessage:
    """A message as the fake keeps it, with every content it had."""

    data: dict[str, Any]
    history: list[str] = field(default_factory=list)
    allowed_mentions: list[dict[str, Any] | None] = field(default_factory=list)
    deleted: bool = False
    files: dict[str, bytes] = field(default_factory=dict)
    """Attachments sent with the message (multipart), by file name."""

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def channel_id(self) -> int:
        return int(self.data["channel_id"])

    @property
    def content(self) -> str:
        return str(self.data.get("content", ""))

    @property
    def author_id(self) -> int:
        return int(self.data["author"]["id"])

    @property
    def ephemeral(self) -> bool:
        return bool(self.data.get("flags", 0) & EPHEMERAL)

    def custom_ids(self) -> list[str]:
        return [
            c.get("custom_id", "")
            for row in self.data.get("components", [])
            for c in row.get("components", [])
        ]


@dataclass
class FakeInteraction:
    """An interaction the fake sent, and how the bot answered it."""

    id: int
    token: str
    payload: dict[str, Any]
    channel_id: int
    created: float
    callback: dict[str, Any] | None = None
    original_id: int | None = None
    followups: list[int] = field(default_factory=list)

    @property
    def callback_type(self) -> int | None:
        return None if self.callback is None else int(self.callback["type"])


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int = 0


class FakeDiscord:
    """REST + gateway on 127.0.0.1:<random port>."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        message_content_granted: bool = True,
        recommended_shards: int = 1,
        max_concurrency: int = 1,
        interaction_deadline: float = 3.0,
    ) -> None:
        self.token = token
        self.message_content_granted = message_content_granted
        self.recommended_shards = recommended_shards
        self.max_concurrency = max_concurrency
        self.interaction_deadline = interaction_deadline
        self.advertised_gateway: str | None = None
        self.limits = Limits()
        self.gateway = Gateway(self)
        self.requests: list[Request] = []
        self.messages: dict[int, StoredMessage] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.command_puts: list[str] = []
        self.thread_members: list[tuple[int, int]] = []
        self.pings: list[tuple[int, str]] = []
        self.denied: dict[int, int] = {}
        self.cdn_files: dict[str, tuple[bytes, str]] = {}
        """Attachment bytes and content type by CDN path (``user_message(files=...)``)."""
        self.cdn_gets: list[str] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._build_world()

    # -- world ------------------------------------------------------------------------

    def _build_world(self) -> None:
        self.bot = p.user(p.snowflake(), "threadline", bot=True)
        self.app_id = int(self.bot["id"])
        self.guild_id = p.snowflake()
        self.admin_role = p.snowflake()
        self.mod_role = p.snowflake()
        self.roles = [
            p.role(self.guild_id, "@everyone", p.MEMBER_PERMISSIONS),
            p.role(self.admin_role, "Threadline Admin", 0),
            p.role(self.mod_role, "Mods", p.MANAGE_GUILD),
        ]
        self.users = {
            "alice": p.user(p.snowflake(), "alice"),
            "bob": p.user(p.snowflake(), "bob"),
            "mod": p.user(p.snowflake(), "mod"),
            "helper": p.user(p.snowflake(), "helper"),
            "otherbot": p.user(p.snowflake(), "otherbot", bot=True),
        }
        member_roles = {"mod": [str(self.mod_role)], "helper": [str(self.admin_role)]}
        self.members = {name: p.member(u, member_roles.get(name)) for name, u in self.users.items()}
        self.members["threadline"] = p.member(self.bot)
        self.general = p.snowflake()
        self.voice = p.snowflake()
        self.channels[self.general] = p.text_channel(self.general, self.guild_id, "general")
        self.channels[self.voice] = p.text_channel(
            self.voice, self.guild_id, "voice", kind=p.GUILD_VOICE
        )

    def guild_ids(self) -> list[int]:
        return [self.guild_id]

    def guild_payload(self, guild_id: int) -> dict[str, Any]:
        channels = [c for c in self.channels.values() if c.get("type") in (0, 2)]
        threads = [c for c in self.channels.values() if c.get("type") in (11, 12)]
        return p.guild(
            guild_id,
            "Fake Guild",
            int(self.users["mod"]["id"]),
            self.roles,
            channels,
            threads,
            list(self.members.values()),
        )

    def ready_payload(self, session: GatewaySession) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.bot, "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [
                {"id": str(g), "unavailable": True}
                for g in self.guild_ids()
                if session.owns_guild(g)
            ],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "shard": list(session.shard),
            "application": {"id": str(self.app_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }

    def shape_for(
        self, session: GatewaySession, event: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Without MESSAGE_CONTENT, message content is empty unless DM, mention or own."""
        if session.message_content or event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            return data
        mentioned = any(m.get("id") == self.bot["id"] for m in data.get("mentions", []))
        own = data.get("author", {}).get("id") == self.bot["id"]
        if mentioned or own or "guild_id" not in data:
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    # -- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway/", self.gateway.handle)
        build_routes(self, app)
        app.router.add_get("/cdn/attachments/{cid}/{aid}/{name}", self._cdn)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def env(self, *, gateway: bool = False) -> dict[str, str]:
        """Variables pointing a Threadline process at this fake."""
        env = {"DISCORD_TOKEN": self.token, "DISCORD_API_BASE": self.api_base}
        if gateway:
            env["DISCORD_GATEWAY_URL"] = self.gateway_url
        return env

    # -- waiting ----------------------------------------------------------------------

    def notify(self) -> None:
        self._changed.set()

    async def wait_until(self, check: Callable[[], T | None], within: float = 15.0) -> T:
        """Wait until ``check()`` is truthy (re-checked on every state change); return it."""
        async with asyncio.timeout(within):
            while True:
                result = check()
                if result:
                    return result
                self._changed.clear()
                try:
                    async with asyncio.timeout(0.2):
                        await self._changed.wait()
                except TimeoutError:
                    pass

    async def wait_ready(self, sessions: int = 1, within: float = 15.0) -> None:
        await self.wait_until(lambda: self.gateway.identified_count() >= sessions, within)

    # -- state helpers ----------------------------------------------------------------

    def new_message(self, data: dict[str, Any]) -> StoredMessage:
        stored = StoredMessage(data, history=[str(data.get("content", ""))])
        self.messages[stored.id] = stored
        self.notify()
        return stored

    def bot_messages(self, channel_id: int, *, ephemeral: bool = False) -> list[StoredMessage]:
        """The bot's live messages in a channel, oldest first."""
        return sorted(
            (
                m
                for m in self.messages.values()
                if m.channel_id == channel_id
                and m.author_id == self.app_id
                and not m.deleted
                and m.ephemeral == ephemeral
            ),
            key=lambda m: m.id,
        )

    def threads_of(self, parent_id: int) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c.get("parent_id") == str(parent_id)]

    def requests_to(self, method: str, pattern: str) -> list[Request]:
        rx = re.compile(pattern)
        return [r for r in self.requests if r.method == method and rx.search(r.path)]

    def inject(
        self,
        method: str,
        path: str,
        status: int,
        code: int = 0,
        message: str = "",
        *,
        times: int = 1,
        retry_after: float = 0.0,
    ) -> Fault:
        fault = Fault(method, re.compile(path), status, code, message, times, retry_after)
        self.limits.inject(fault)
        return fault

    def deny(self, channel_id: int, permissions: int) -> None:
        """Take ``permissions`` away from the bot in a channel (for app_permissions and REST)."""
        self.denied[channel_id] = self.denied.get(channel_id, 0) | permissions

    def app_permissions(self, channel_id: int) -> int:
        return p.ALL_PERMISSIONS & ~self.denied.get(channel_id, 0)

    # -- scripted users ---------------------------------------------------------------

    def _channel_guild(self, channel_id: int) -> int | None:
        guild = self.channels[channel_id].get("guild_id")
        return int(guild) if guild else None

    async def dispatch(self, event: str, data: dict[str, Any], guild_id: int | None) -> int:
        return await self.gateway.dispatch(event, data, guild_id)

    async def user_message(
        self,
        channel_id: int,
        content: str,
        *,
        author: str = "alice",
        mention_bot: bool = False,
        reply_to: int | None = None,
        files: list[tuple[str, str, bytes]] | None = None,
    ) -> StoredMessage:
        """A user (or ``otherbot``) posts a message; it is dispatched as MESSAGE_CREATE
        (with ``reply_to``: a reply to that message of the channel; with ``files``, attachments
        ``(filename, content_type, bytes)`` served on this fake's CDN path, signed URLs as on
        Discord)."""
        user = self.users[author]
        guild_id = self._channel_guild(channel_id)
        meta = self.channels[channel_id].get("thread_metadata")
        if meta is not None and meta["archived"] and not meta["locked"]:
            meta["archived"] = False  # as on Discord: posting in a thread unarchives it
        mentions = [self.bot] if mention_bot else []
        text = f"<@{self.bot['id']}> {content}" if mention_bot else content
        data = p.message(
            p.snowflake(),
            channel_id,
            user,
            text,
            guild_id=guild_id,
            member_obj=self.members[author] if guild_id else None,
            mentions=mentions,
            reference=None if reply_to is None else _reference(reply_to, channel_id, guild_id),
        )
        data["attachments"] = [self._attach(channel_id, *f) for f in files or []]
        stored = self.new_message(data)
        await self.dispatch("MESSAGE_CREATE", data, guild_id)
        return stored

    def _attach(self, channel_id: int, name: str, content_type: str, data: bytes) -> dict[str, Any]:
        attachment_id = p.snowflake()
        path = f"/cdn/attachments/{channel_id}/{attachment_id}/{name}"
        self.cdn_files[path] = (data, content_type)
        url = f"http://127.0.0.1:{self.port}{path}?ex=68000000&is=67000000&hm=fakesignature"
        return {
            "id": str(attachment_id),
            "filename": name,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }

    async def _cdn(self, request: web.Request) -> web.Response:
        """The CDN: signed URLs only (``hm`` present), no token needed."""
        self.cdn_gets.append(request.path)
        found = self.cdn_files.get(request.path)
        if found is None or not request.query.get("hm"):
            return web.Response(status=404, text="Not Found")
        return web.Response(body=found[0], headers={"Content-Type": found[1]})

    async def edit_user_message(self, message_id: int, content: str) -> None:
        stored = self.messages[message_id]
        stored.data = {**stored.data, "content": content, "edited_timestamp": p.iso_now()}
        stored.history.append(content)
        self.notify()
        await self.dispatch("MESSAGE_UPDATE", stored.data, self._channel_guild(stored.channel_id))

    async def delete_user_message(self, message_id: int) -> None:
        stored = self.messages[message_id]
        stored.deleted = True
        guild_id = self._channel_guild(stored.channel_id)
        data: dict[str, Any] = {"id": str(message_id), "channel_id": str(stored.channel_id)}
        if guild_id:
            data["guild_id"] = str(guild_id)
        self.notify()
        await self.dispatch("MESSAGE_DELETE", data, guild_id)

    async def embeds_resolved(self, message_id: int) -> None:
        """Discord's partial MESSAGE_UPDATE after it unfurls a link: id, channel, guild, embeds."""
        stored = self.messages[message_id]
        guild_id = self._channel_guild(stored.channel_id)
        data: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(stored.channel_id),
            "embeds": [{"type": "link", "url": "https://example.com/"}],
        }
        if guild_id:
            data["guild_id"] = str(guild_id)
        await self.dispatch("MESSAGE_UPDATE", data, guild_id)

    def open_dm(self, user: str = "alice") -> int:
        for channel in self.channels.values():
            recipients = channel.get("recipients", [])
            if channel.get("type") == p.DM and recipients[0]["id"] == self.users[user]["id"]:
                return int(channel["id"])
        channel_id = p.snowflake()
        self.channels[channel_id] = p.dm_channel(channel_id, self.users[user])
        return channel_id

    async def archive(self, thread_id: int, *, locked: bool = False) -> None:
        channel = self.channels[thread_id]
        channel["thread_metadata"] = {
            **channel["thread_metadata"],
            "archived": True,
            "locked": locked,
        }
        self.notify()
        await self.dispatch("THREAD_UPDATE", channel, self._channel_guild(thread_id))

    # -- interactions -----------------------------------------------------------------

    async def slash(
        self,
        name: str,
        options: list[dict[str, Any]] | None = None,
        *,
        channel_id: int | None = None,
        user: str = "alice",
        age: float = 0.0,
        without: tuple[str, ...] = (),
    ) -> FakeInteraction:
        """A user runs ``/name`` (``age`` seconds ago, for token-expiry tests). ``without``
        names payload fields (dotted: ``member.flags``) left out, as newer or partial payloads
        from Discord may."""
        data = {"id": str(p.snowflake()), "name": name, "type": 1, "options": options or []}
        return await self._interact(2, data, channel_id or self.general, user, age, None, without)

    async def context_menu(
        self, name: str, message_id: int, *, user: str = "alice", locale: str = "en-US"
    ) -> FakeInteraction:
        """A user runs the message command ``name`` (Apps → ``name``) on a message."""
        stored = self.messages[message_id]
        data = {
            "id": str(p.snowflake()),
            "name": name,
            "type": 3,
            "target_id": str(message_id),
            "resolved": {"messages": {str(message_id): stored.data}},
        }
        return await self._interact(2, data, stored.channel_id, user, 0.0, None, locale=locale)

    async def click(
        self, message_id: int, custom_id: str, *, user: str = "alice"
    ) -> FakeInteraction:
        """A user presses the button ``custom_id`` on a message."""
        stored = self.messages[message_id]
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(3, data, stored.channel_id, user, 0.0, stored.data)

    async def _interact(
        self,
        kind: int,
        data: dict[str, Any],
        channel_id: int,
        user: str,
        age: float,
        message: dict[str, Any] | None,
        without: tuple[str, ...] = (),
        *,
        locale: str = "",
    ) -> FakeInteraction:
        import time

        created = time.time() - age
        interaction_id = p.snowflake(created * 1000)
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        guild_id = self._channel_guild(channel_id)
        channel = self.channels[channel_id]
        permissions = self._member_permissions(user)
        payload = p.interaction(
            interaction_id,
            self.app_id,
            kind,
            token,
            data,
            channel,
            guild_id=guild_id,
            member_obj=self.members[user] if guild_id else None,
            user_obj=self.users[user],
            permissions=permissions,
            app_permissions=self.app_permissions(channel_id),
            message_obj=message,
        )
        for path in without:
            _drop(payload, path)
        if locale:
            payload["locale"] = locale
        record = FakeInteraction(interaction_id, token, payload, channel_id, created)
        self.interactions[interaction_id] = record
        await self.dispatch("INTERACTION_CREATE", payload, guild_id)
        return record

    def _member_permissions(self, user: str) -> int:
        roles = {str(self.guild_id), *self.members[user]["roles"]}
        perms = 0
        for role_obj in self.roles:
            if role_obj["id"] in roles:
                perms |= int(role_obj["permissions"])
        return perms

    def interaction_by_token(self, token: str) -> FakeInteraction | None:
        for record in self.interactions.values():
            if record.token == token:
                return record
        return None

    async def responded(self, interaction: FakeInteraction, within: float = 10.0) -> dict[str, Any]:
        """Wait for the bot's interaction callback; return it."""
        await self.wait_until(lambda: interaction.callback is not None, within)
        assert interaction.callback is not None
        return interaction.callback

    def original(self, interaction: FakeInteraction) -> StoredMessage | None:
        if interaction.original_id is None:
            return None
        return self.messages.get(interaction.original_id)


def _drop(payload: dict[str, Any], path: str) -> None:
    """Remove the field at a dotted ``path`` (missing parents are ignored)."""
    *parents, last = path.split(".")
    for name in parents:
        payload = payload.get(name) or {}
    payload.pop(last, None)


def opt(name: str, value: Any, kind: int | None = None) -> dict[str, Any]:
    """A slash-command option as Discord sends it."""
    if kind is None:
        kind = 5 if isinstance(value, bool) else 10 if isinstance(value, float) else 3
    return {"name": name, "type": kind, "value": value}


def sub(name: str, *options: dict[str, Any]) -> dict[str, Any]:
    """A subcommand option."""
    return {"name": name, "type": 1, "options": list(options)}


def _reference(message_id: int, channel_id: int, guild_id: int | None) -> dict[str, Any]:
    """A reply's ``message_reference``."""
    reference = {"message_id": str(message_id), "channel_id": str(channel_id)}
    if guild_id:
        reference["guild_id"] = str(guild_id)
    return reference
