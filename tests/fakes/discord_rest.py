"""REST routes of the fake Discord (API v10), with Discord's status and error codes.

Every request is recorded (``fake.requests``); injected faults answer first; message create and
edit share a per-channel bucket, interaction webhooks a per-token bucket; content over 2,000
characters is refused with 50035; every message write records its ``allowed_mentions`` and
any ping it would have caused (``fake.pings``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes import discord_payloads as p
from tests.fakes.discord_limits import (
    error_response,
    fault_response,
    invalid_form_body,
    json_reply,
    too_many,
)

if TYPE_CHECKING:
    from tests.fakes.discord_api import FakeDiscord, FakeInteraction, StoredMessage

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_CONTENT = 2000
TOKEN_LIFETIME = 15 * 60
EPHEMERAL, LOADING = 1 << 6, 1 << 7
API = "/api/v10"
BODY: web.RequestKey[Any] = web.RequestKey("body", object)
FILES = "_files"


def build_routes(fake: FakeDiscord, app: web.Application) -> None:
    rest = Rest(fake)
    app.middlewares.append(rest.middleware)
    r = app.router
    r.add_get(API + "/users/@me", rest.me)
    r.add_post(API + "/users/@me/channels", rest.open_dm)
    r.add_get(API + "/oauth2/applications/@me", rest.application)
    r.add_get(API + "/gateway/bot", rest.gateway_bot)
    r.add_get(API + "/gateway", rest.gateway_plain)
    for path in ("/applications/{app}/commands", "/applications/{app}/guilds/{guild}/commands"):
        r.add_put(API + path, rest.put_commands)
        r.add_get(API + path, rest.get_commands)
    r.add_get(API + "/channels/{cid}", rest.get_channel)
    r.add_patch(API + "/channels/{cid}", rest.patch_channel)
    r.add_post(API + "/channels/{cid}/messages", rest.create_message)
    r.add_get(API + "/channels/{cid}/messages/{mid}", rest.get_message)
    r.add_patch(API + "/channels/{cid}/messages/{mid}", rest.edit_message)
    r.add_delete(API + "/channels/{cid}/messages/{mid}", rest.delete_message)
    r.add_post(API + "/channels/{cid}/messages/{mid}/threads", rest.thread_from_message)
    r.add_post(API + "/channels/{cid}/threads", rest.thread_without_message)
    r.add_put(API + "/channels/{cid}/thread-members/{uid}", rest.add_thread_member)
    r.add_post(API + "/channels/{cid}/typing", rest.typing)
    r.add_post(API + "/interactions/{iid}/{token}/callback", rest.interaction_callback)
    r.add_post(API + "/webhooks/{app}/{token}", rest.followup)
    hook_message = API + "/webhooks/{app}/{token}/messages/{mid}"
    r.add_get(hook_message, rest.get_webhook_message)
    r.add_patch(hook_message, rest.edit_webhook_message)
    r.add_delete(hook_message, rest.delete_webhook_message)


async def _body(request: web.Request) -> Any:
    if not request.can_read_body:
        return None
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        raw = form.get("payload_json")
        body = json.loads(str(raw)) if raw is not None else {}
        files = [f for f in form.values() if isinstance(f, web.FileField)]
        if files:  # attachments: kept as FILES on the stored message
            body[FILES] = {f.filename: f.file.read() for f in files}
        return body
    text = await request.text()
    return json.loads(text) if text else None


def _unknown(kind: str) -> web.Response:
    codes = {"channel": 10003, "message": 10008, "interaction": 10062, "webhook": 10015}
    return error_response(404, codes[kind], f"Unknown {kind.capitalize()}")


class Rest:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    # -- plumbing ---------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API):
            return await handler(request)
        from tests.fakes.discord_api import Request

        body = await _body(request)
        request[BODY] = body
        record = Request(request.method, request.path[len(API) :], dict(request.query), body)
        self.fake.requests.append(record)
        response = await self._guarded(request, handler, record.path)
        record.status = response.status
        self.fake.notify()
        return response

    async def _guarded(
        self, request: web.Request, handler: Handler, path: str
    ) -> web.StreamResponse:
        needs_auth = not path.startswith(("/webhooks/", "/interactions/"))
        if needs_auth and request.headers.get("Authorization") != f"Bot {self.fake.token}":
            return error_response(401, 0, "401: Unauthorized")
        fault = self.fake.limits.fault_for(request.method, path)
        if fault is not None:
            return fault_response(fault)
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return error_response(404, 0, "404: Not Found")
        except web.HTTPMethodNotAllowed:
            return error_response(405, 0, "405: Method Not Allowed")

    def _limited(self, kind: str, major: str) -> tuple[web.Response | None, dict[str, str]]:
        wait, headers = self.fake.limits.check(kind, major)
        if wait > 0:
            self.fake.limits.rate_limited += 1
            return too_many(wait, headers), headers
        return None, headers

    # -- identity and gateway ---------------------------------------------------------

    async def open_dm(self, request: web.Request) -> web.Response:
        """``POST /users/@me/channels {recipient_id}``: the DM channel with that user."""
        recipient = str((request[BODY] or {}).get("recipient_id") or "")
        names = [n for n, u in self.fake.users.items() if u["id"] == recipient]
        if not names:
            return error_response(400, 50007, "Cannot send messages to this user")
        return json_reply(self.fake.channels[self.fake.open_dm(names[0])])

    async def me(self, request: web.Request) -> web.Response:
        return json_reply({**self.fake.bot, "verified": True, "flags": 0})

    async def application(self, request: web.Request) -> web.Response:
        owner = self.fake.users["mod"]
        return json_reply(
            {
                "id": str(self.fake.app_id),
                "name": "Threadline",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": owner,
                "team": None,
                "flags": 1 << 19,
                "summary": "",
            }
        )

    async def gateway_bot(self, request: web.Request) -> web.Response:
        limit = {
            "total": 1000,
            "remaining": 999,
            "reset_after": 0,
            "max_concurrency": self.fake.max_concurrency,
        }
        return json_reply(
            {
                "url": self.fake.advertised_gateway or self.fake.gateway_url,
                "shards": self.fake.recommended_shards,
                "session_start_limit": limit,
            }
        )

    async def gateway_plain(self, request: web.Request) -> web.Response:
        return json_reply({"url": self.fake.gateway_url})

    # -- commands ---------------------------------------------------------------------

    def _scope(self, request: web.Request) -> str:
        return request.match_info.get("guild", "global")

    async def put_commands(self, request: web.Request) -> web.Response:
        if request.match_info["app"] != str(self.fake.app_id):
            return error_response(403, 50001, "Missing Access")
        scope = self._scope(request)
        commands = []
        for raw in request[BODY] or []:
            command = {**raw, "id": str(p.snowflake()), "application_id": str(self.fake.app_id)}
            command.setdefault("version", str(p.snowflake()))
            command.setdefault("default_member_permissions", None)
            command.setdefault("type", 1)
            command.setdefault("description", "")  # message commands have none; Discord says ""
            commands.append(command)
        self.fake.commands[scope] = commands
        self.fake.command_puts.append(scope)
        return json_reply(commands)

    async def get_commands(self, request: web.Request) -> web.Response:
        return json_reply(self.fake.commands.get(self._scope(request), []))

    # -- channels and threads ---------------------------------------------------------

    def _channel(self, request: web.Request) -> dict[str, Any] | None:
        return self.fake.channels.get(int(request.match_info["cid"]))

    async def get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        return _unknown("channel") if channel is None else json_reply(channel)

    async def patch_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _unknown("channel")
        body = request[BODY] or {}
        meta = channel.get("thread_metadata")
        if meta is not None:
            if meta.get("locked") and body.get("archived") is False:
                return error_response(403, 50013, "Missing Permissions")
            for key in ("archived", "locked", "auto_archive_duration"):
                if key in body:
                    meta[key] = body[key]
        if "name" in body:
            channel["name"] = body["name"]
        await self._dispatch_channel("THREAD_UPDATE", channel)
        return json_reply(channel)

    async def _dispatch_channel(self, event: str, channel: dict[str, Any]) -> None:
        guild = channel.get("guild_id")
        await self.fake.dispatch(event, channel, int(guild) if guild else None)

    def _denied(self, channel_id: int, permission: int) -> bool:
        return bool(self.fake.denied.get(channel_id, 0) & permission)

    async def thread_from_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _unknown("channel")
        parent_id = int(channel["id"])
        if channel.get("type") != p.GUILD_TEXT:
            return error_response(400, 50024, "Cannot execute action on this channel type")
        if self._denied(parent_id, p.CREATE_PUBLIC_THREADS):
            return error_response(403, 50013, "Missing Permissions")
        message_id = int(request.match_info["mid"])
        if message_id not in self.fake.messages:
            return _unknown("message")
        if message_id in self.fake.channels:
            return error_response(400, 160004, "A thread has already been created for this message")
        body = request[BODY] or {}
        return await self._new_thread(message_id, channel, body, private=False)

    async def thread_without_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _unknown("channel")
        body = request[BODY] or {}
        private = int(body.get("type", p.PRIVATE_THREAD)) == p.PRIVATE_THREAD
        needed = p.CREATE_PRIVATE_THREADS if private else p.CREATE_PUBLIC_THREADS
        if channel.get("type") != p.GUILD_TEXT:
            return error_response(400, 50024, "Cannot execute action on this channel type")
        if self._denied(int(channel["id"]), needed):
            return error_response(403, 50013, "Missing Permissions")
        return await self._new_thread(p.snowflake(), channel, body, private=private)

    async def _new_thread(
        self, thread_id: int, parent: dict[str, Any], body: dict[str, Any], *, private: bool
    ) -> web.Response:
        name = str(body.get("name", ""))
        if not 1 <= len(name) <= 100:
            return error_response(400, 50035, "Invalid Form Body")
        guild_id = int(parent["guild_id"])
        data = p.thread(
            thread_id, guild_id, int(parent["id"]), name, self.fake.app_id, private=private
        )
        data["thread_metadata"]["auto_archive_duration"] = body.get("auto_archive_duration", 1440)
        self.fake.channels[thread_id] = data
        self.fake.thread_members.append((thread_id, self.fake.app_id))
        await self.fake.dispatch("THREAD_CREATE", {**data, "newly_created": True}, guild_id)
        return json_reply(data, status=201)

    async def add_thread_member(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _unknown("channel")
        uid = request.match_info["uid"]
        user_id = self.fake.app_id if uid == "@me" else int(uid)
        self.fake.thread_members.append((int(channel["id"]), user_id))
        return web.Response(status=204)

    async def typing(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    # -- messages ---------------------------------------------------------------------

    def _check_writable(self, channel: dict[str, Any], *, editing: bool) -> web.Response | None:
        channel_id = int(channel["id"])
        meta = channel.get("thread_metadata")
        needed = p.SEND_MESSAGES_IN_THREADS if meta is not None else p.SEND_MESSAGES
        if self._denied(channel_id, needed) or self._denied(
            int(channel.get("parent_id") or 0), needed
        ):
            return error_response(403, 50013, "Missing Permissions")
        if meta is not None and meta.get("archived"):
            if editing or meta.get("locked"):
                return error_response(400, 50083, "Thread is archived")
            meta["archived"] = False
        return None

    def _check_content(self, body: dict[str, Any], *, creating: bool) -> web.Response | None:
        content = body.get("content")
        if content is not None and len(str(content)) > MAX_CONTENT:
            return invalid_form_body("content", MAX_CONTENT)
        if creating and not content and not body.get("components") and not body.get("embeds"):
            return error_response(400, 50006, "Cannot send an empty message")
        return None

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _unknown("channel")
        limited, headers = self._limited("messages", str(channel["id"]))
        if limited is not None:
            return limited
        body = request[BODY] or {}
        problem = self._check_writable(channel, editing=False) or self._check_content(
            body, creating=True
        )
        if problem is not None:
            return problem
        stored = self.new_bot_message(int(channel["id"]), body)
        await self._dispatch_message("MESSAGE_CREATE", stored)
        return json_reply(stored.data, headers=headers)

    def new_bot_message(self, channel_id: int, body: dict[str, Any], **extra: Any) -> StoredMessage:
        channel = self.fake.channels[channel_id]
        guild = channel.get("guild_id")
        data = p.message(
            p.snowflake(),
            channel_id,
            self.fake.bot,
            str(body.get("content") or ""),
            guild_id=int(guild) if guild else None,
            member_obj=self.fake.members["threadline"] if guild else None,
            components=body.get("components") or [],
            reference=_stringify_ids(body.get("message_reference")),
            flags=int(body.get("flags") or 0),
            **extra,
        )
        stored = self.fake.new_message(data)
        stored.files.update(body.get(FILES) or {})
        self._record_mentions(stored, body)
        return stored

    def _record_mentions(self, stored: StoredMessage, body: dict[str, Any]) -> None:
        allowed = body.get("allowed_mentions")
        stored.allowed_mentions.append(allowed)
        parse = ["everyone", "users", "roles"] if allowed is None else allowed.get("parse", [])
        content = stored.content
        if "everyone" in parse and re.search(r"@(everyone|here)", content):
            self.fake.pings.append((stored.id, "everyone"))
        if "roles" in parse and re.search(r"<@&\d+>", content):
            self.fake.pings.append((stored.id, "role"))
        users = set(parse_ids(allowed, "users")) if allowed else set()
        for user_id in re.findall(r"<@!?(\d+)>", content):
            if "users" in parse or user_id in users:
                self.fake.pings.append((stored.id, f"user:{user_id}"))

    async def _dispatch_message(self, event: str, stored: StoredMessage) -> None:
        if stored.ephemeral:
            return
        guild = stored.data.get("guild_id")
        await self.fake.dispatch(event, stored.data, int(guild) if guild else None)

    def _message(self, request: web.Request) -> StoredMessage | None:
        stored = self.fake.messages.get(int(request.match_info["mid"]))
        if stored is None or stored.deleted:
            return None
        if str(stored.channel_id) != request.match_info["cid"]:
            return None
        return stored

    async def get_message(self, request: web.Request) -> web.Response:
        stored = self._message(request)
        return _unknown("message") if stored is None else json_reply(stored.data)

    async def edit_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel is None:
            return _unknown("channel")
        limited, headers = self._limited("messages", str(channel["id"]))
        if limited is not None:
            return limited
        stored = self._message(request)
        if stored is None:
            return _unknown("message")
        if stored.author_id != self.fake.app_id:
            return error_response(403, 50005, "Cannot edit a message authored by another user")
        body = request[BODY] or {}
        problem = self._check_writable(channel, editing=True) or self._check_content(
            body, creating=False
        )
        if problem is not None:
            return problem
        self.apply_edit(stored, body)
        await self._dispatch_message("MESSAGE_UPDATE", stored)
        return json_reply(stored.data, headers=headers)

    def apply_edit(self, stored: StoredMessage, body: dict[str, Any]) -> None:
        data = dict(stored.data)
        if "content" in body:
            data["content"] = str(body["content"] or "")
        if "components" in body:
            data["components"] = body["components"] or []
        data["flags"] = int(data.get("flags", 0)) & ~LOADING
        data["edited_timestamp"] = p.iso_now()
        stored.data = data
        stored.files.update(body.get(FILES) or {})
        stored.history.append(stored.content)
        self._record_mentions(stored, body)
        self.fake.notify()

    async def delete_message(self, request: web.Request) -> web.Response:
        stored = self._message(request)
        if stored is None:
            return _unknown("message")
        stored.deleted = True
        return web.Response(status=204)

    # -- interactions -----------------------------------------------------------------

    async def interaction_callback(self, request: web.Request) -> web.Response:
        record = self.fake.interactions.get(int(request.match_info["iid"]))
        if record is None or record.token != request.match_info["token"]:
            return _unknown("interaction")
        if record.callback is not None:
            return error_response(400, 40060, "Interaction has already been acknowledged.")
        if time.time() - record.created > self.fake.interaction_deadline:
            return _unknown("interaction")
        body = request[BODY] or {}
        data = {**(body.get("data") or {}), **({FILES: body[FILES]} if FILES in body else {})}
        problem = self._check_content(data, creating=False)
        if problem is not None:
            return problem
        record.callback = body
        message = await self._apply_callback(record, int(body["type"]), data)
        self.fake.notify()
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        return json_reply(self._callback_payload(record, int(body["type"]), message))

    async def _apply_callback(
        self, record: FakeInteraction, kind: int, data: dict[str, Any]
    ) -> StoredMessage | None:
        if kind in (4, 5):
            flags = int(data.get("flags") or 0) | (LOADING if kind == 5 else 0)
            body = {**data, "flags": flags}
            stored = self._interaction_message(record, body)
            record.original_id = stored.id
            await self._dispatch_message("MESSAGE_CREATE", stored)
            return stored
        message = record.payload.get("message")
        if message is not None:
            record.original_id = int(message["id"])
            stored = self.fake.messages[int(message["id"])]
            if kind == 7:
                self.apply_edit(stored, data)
                await self._dispatch_message("MESSAGE_UPDATE", stored)
            return stored
        return None

    def _interaction_message(self, record: FakeInteraction, body: dict[str, Any]) -> StoredMessage:
        user = record.payload.get("member", {}).get("user") or record.payload.get("user")
        metadata = {"id": str(record.id), "type": record.payload["type"], "user": user}
        return self.new_bot_message(
            record.channel_id,
            body,
            webhook_id=self.fake.app_id,
            interaction_metadata=metadata,
        )

    def _callback_payload(
        self, record: FakeInteraction, kind: int, message: StoredMessage | None
    ) -> dict[str, Any]:
        flags = int(message.data.get("flags", 0)) if message is not None else 0
        info = {
            "id": str(record.id),
            "type": record.payload["type"],
            "response_message_id": str(message.id) if message is not None else None,
            "response_message_loading": bool(flags & LOADING),
            "response_message_ephemeral": bool(flags & EPHEMERAL),
        }
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            resource["message"] = message.data
        return {"interaction": info, "resource": resource}

    def _hook(self, request: web.Request) -> tuple[FakeInteraction | None, web.Response | None]:
        record = self.fake.interaction_by_token(request.match_info["token"])
        expired = record is not None and time.time() - record.created > TOKEN_LIFETIME
        if record is None or expired or request.match_info["app"] != str(self.fake.app_id):
            return None, error_response(401, 50027, "Invalid Webhook Token")
        limited, _ = self._limited("webhook", record.token)
        return record, limited

    def _hook_message(self, record: FakeInteraction, mid: str) -> StoredMessage | None:
        if mid == "@original":
            return (
                None if record.original_id is None else self.fake.messages.get(record.original_id)
            )
        stored = self.fake.messages.get(int(mid))
        if stored is None or stored.deleted:
            return None
        if stored.id != record.original_id and stored.id not in record.followups:
            return None
        return stored

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        record, problem = self._hook(request)
        if record is None or problem is not None:
            return problem or _unknown("webhook")
        stored = self._hook_message(record, request.match_info["mid"])
        return _unknown("message") if stored is None else json_reply(stored.data)

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        record, problem = self._hook(request)
        if record is None or problem is not None:
            return problem or _unknown("webhook")
        stored = self._hook_message(record, request.match_info["mid"])
        if stored is None:
            return _unknown("message")
        body = request[BODY] or {}
        problem = self._check_content(body, creating=False)
        if problem is not None:
            return problem
        self.apply_edit(stored, body)
        await self._dispatch_message("MESSAGE_UPDATE", stored)
        return json_reply(stored.data)

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        record, problem = self._hook(request)
        if record is None or problem is not None:
            return problem or _unknown("webhook")
        stored = self._hook_message(record, request.match_info["mid"])
        if stored is None:
            return _unknown("message")
        stored.deleted = True
        return web.Response(status=204)

    async def followup(self, request: web.Request) -> web.Response:
        record, problem = self._hook(request)
        if record is None or problem is not None:
            return problem or _unknown("webhook")
        body = request[BODY] or {}
        problem = self._check_content(body, creating=True)
        if problem is not None:
            return problem
        original = self.fake.original(record)
        if original is not None and original.data.get("flags", 0) & LOADING:
            self.apply_edit(original, body)
            await self._dispatch_message("MESSAGE_UPDATE", original)
            return json_reply(original.data)
        stored = self._interaction_message(record, body)
        record.followups.append(stored.id)
        await self._dispatch_message("MESSAGE_CREATE", stored)
        return json_reply(stored.data)


def _stringify_ids(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """Snowflakes go out as strings, as Discord sends them."""
    if data is None:
        return None
    return {k: str(v) if k.endswith("_id") and v is not None else v for k, v in data.items()}


def parse_ids(allowed: dict[str, Any], key: str) -> list[str]:
    return [str(v) for v in allowed.get(key, [])]
