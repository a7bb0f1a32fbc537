"""The fake Discord gateway: one websocket session per connected shard.

HELLO → IDENTIFY (token and intents checked; MESSAGE_CONTENT without the grant closes with
4014) → READY → GUILD_CREATE for the shard's guilds; HEARTBEAT → HEARTBEAT_ACK; RESUME →
RESUMED. Dispatches carry increasing sequence numbers. Text frames only (discord.py accepts
them even when it asked for compression).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.fakes.discord_api import FakeDiscord

MESSAGE_CONTENT = 1 << 15
HELLO, HEARTBEAT, IDENTIFY, RESUME, INVALID_SESSION, HEARTBEAT_ACK = 10, 1, 2, 6, 9, 11


@dataclass
class GatewaySession:
    """One websocket connection (one shard of one client)."""

    ws: web.WebSocketResponse
    session_id: str = field(default_factory=lambda: secrets.token_hex(16))
    sequence: int = 0
    shard: tuple[int, int] = (0, 1)
    intents: int = 0
    identified: bool = False

    @property
    def message_content(self) -> bool:
        return bool(self.intents & MESSAGE_CONTENT)

    async def send(self, op: int, data: Any, event: str | None = None) -> None:
        payload: dict[str, Any] = {"op": op, "d": data, "s": None, "t": event}
        if op == 0:
            self.sequence += 1
            payload["s"] = self.sequence
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(payload))

    def owns_guild(self, guild_id: int | None) -> bool:
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id


class Gateway:
    """Serves ``/gateway`` for a ``FakeDiscord``."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: list[GatewaySession] = []
        self.identifies: list[dict[str, Any]] = []
        self.closed_with: list[int] = []
        self.heartbeat_interval_ms = 41250

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        session = GatewaySession(ws)
        self.sessions.append(session)
        try:
            await session.send(HELLO, {"heartbeat_interval": self.heartbeat_interval_ms})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                await self._on_frame(session, json.loads(msg.data))
        finally:
            self.sessions.remove(session)
            self.fake.notify()
        return ws

    async def _on_frame(self, session: GatewaySession, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == HEARTBEAT:
            await session.send(HEARTBEAT_ACK, None)
        elif op == IDENTIFY:
            await self._identify(session, frame["d"])
        elif op == RESUME:
            await self._resume(session, frame["d"])

    async def _identify(self, session: GatewaySession, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        if data.get("token") != self.fake.token:
            await self._close(session, 4004, "Authentication failed.")
            return
        session.intents = int(data.get("intents", 0))
        if session.message_content and not self.fake.message_content_granted:
            await self._close(session, 4014, "Disallowed intent(s).")
            return
        shard = data.get("shard") or [0, 1]
        session.shard = (int(shard[0]), int(shard[1]))
        await session.send(0, self.fake.ready_payload(session), "READY")
        for guild_id in self.fake.guild_ids():
            if session.owns_guild(guild_id):
                await session.send(0, self.fake.guild_payload(guild_id), "GUILD_CREATE")
        session.identified = True
        self.fake.notify()

    async def _resume(self, session: GatewaySession, data: dict[str, Any]) -> None:
        if data.get("token") != self.fake.token:
            await self._close(session, 4004, "Authentication failed.")
            return
        await session.send(INVALID_SESSION, False)

    async def _close(self, session: GatewaySession, code: int, reason: str) -> None:
        self.closed_with.append(code)
        await session.ws.close(code=code, message=reason.encode())

    async def dispatch(self, event: str, data: dict[str, Any], guild_id: int | None) -> int:
        """Send ``event`` to every identified session owning ``guild_id``; return how many."""
        targets = [s for s in self.sessions if s.identified and s.owns_guild(guild_id)]
        for session in targets:
            await session.send(0, self.fake.shape_for(session, event, data), event)
        return len(targets)

    async def close_all(self, code: int = 1001) -> None:
        """Close every connection (4000: "unknown error", which clients resume after)."""
        for session in list(self.sessions):
            await session.ws.close(code=code)

    def identified_count(self) -> int:
        return sum(1 for s in self.sessions if s.identified)
