"""The Socket Mode side of the fake Slack: a websocket that pushes envelopes and takes acks.

``apps.connections.open`` on the fake returns ``ws://127.0.0.1:<port>/socket?ticket=N``; the
client connects there, receives ``hello``, then envelopes (``events_api``,
``slash_commands``, ``interactive``, each with an ``envelope_id``), and must answer each with
``{"envelope_id": …, "payload"?: …}``. ``retry_attempt``/``retry_reason`` mark redeliveries.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web


@dataclass
class Envelope:
    """One pushed envelope and, once it arrives, the client's ack."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    acked: asyncio.Future[dict[str, Any]] = field(repr=False, default=None)  # type: ignore[assignment]

    async def ack(self, within: float = 5.0) -> dict[str, Any]:
        """Wait for the ack; returns its ``payload`` ({} when the ack had none)."""
        ack = await asyncio.wait_for(asyncio.shield(self.acked), within)
        payload = ack.get("payload")
        return payload if isinstance(payload, dict) else {}


class SocketHub:
    """Connected Socket Mode clients and the envelopes sent to them."""

    def __init__(self, changed: asyncio.Event | None = None) -> None:
        self.changed = changed or asyncio.Event()
        self.sockets: list[web.WebSocketResponse] = []
        self.envelopes: list[Envelope] = []
        self.connections = 0
        self.connected = asyncio.Event()
        self._ids = itertools.count(1)
        self._pending: dict[str, Envelope] = {}

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        self.sockets.append(ws)
        self.connections += 1
        await ws.send_str(json.dumps(_hello(self.connections)))
        self.connected.set()
        self.changed.set()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._take_ack(message.data)
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
            if not self.sockets:
                self.connected.clear()
        return ws

    def _take_ack(self, data: str) -> None:
        try:
            ack = json.loads(data)
        except json.JSONDecodeError:
            return
        envelope = self._pending.pop(str(ack.get("envelope_id")), None)
        if envelope is not None and not envelope.acked.done():
            envelope.acked.set_result(ack)
        self.changed.set()

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        accepts_response_payload: bool = False,
    ) -> Envelope:
        """Push one envelope to the newest connection (waits up to 5 s for one)."""
        await asyncio.wait_for(self.connected.wait(), 5.0)
        envelope = Envelope(f"env-{next(self._ids)}", kind, payload)
        envelope.acked = asyncio.get_running_loop().create_future()
        self._pending[envelope.envelope_id] = envelope
        self.envelopes.append(envelope)
        frame: dict[str, Any] = {
            "envelope_id": envelope.envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if retry_attempt is not None:
            frame["retry_attempt"] = retry_attempt
            frame["retry_reason"] = retry_reason or "timeout"
        await self.sockets[-1].send_str(json.dumps(frame))
        return envelope

    async def disconnect_all(self) -> None:
        """Ask every client to reconnect, as Slack does when it rotates connections."""
        for ws in list(self.sockets):
            await ws.send_str(json.dumps({"type": "disconnect", "reason": "refresh_requested"}))

    async def close(self) -> None:
        for ws in list(self.sockets):
            await ws.close()


def _hello(count: int) -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": count,
        "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
        "connection_info": {"app_id": "A0THREAD"},
    }
