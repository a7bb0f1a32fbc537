"""What an adapter is to the composition root, and what it receives from it.

Adapters live in the top-level ``adapters`` package and are imported lazily by ``bot.app`` from
the registry there, so a missing optional dependency only matters when that adapter is used.
Each adapter module exposes ``create(context: AdapterContext) -> Adapter``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.config import EnvReader, Settings
    from bot.engine import ConversationEngine
    from bot.reply.factory import ReplyFactory


class Adapter(Protocol):
    """A platform connection that turns platform events into engine calls."""

    name: str

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then close cleanly (finishing or failing live replies)."""
        ...


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """Everything the composition root hands an adapter."""

    engine: ConversationEngine
    replies: ReplyFactory
    env: EnvReader
    settings: Settings
