"""What an adapter is to the composition root, and what it receives from it.

Adapters live in the top-level ``adapters`` package and are imported lazily by ``bot.app`` from
the registry there, so a missing optional dependency only matters when that adapter is used.
Each adapter module exposes ``create(context: AdapterContext) -> Adapter``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bot.metrics import Metrics

if TYPE_CHECKING:
    from bot.config import EnvReader, Settings
    from bot.engine import ConversationEngine
    from bot.reply.factory import ReplyFactory
    from bot.store.base import ConversationStore


class Adapter(Protocol):
    """A platform connection that turns platform events into engine calls."""

    name: str

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then close cleanly (finishing or failing live replies)."""
        ...

    def connected(self) -> bool:
        """Whether the platform connection is up now (``/readyz``): events can arrive."""
        ...


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """Everything the composition root hands an adapter."""

    engine: ConversationEngine
    replies: ReplyFactory
    env: EnvReader
    settings: Settings
    store: ConversationStore
    """The database (shared state and locks across processes, e.g. Discord command sync)."""
    metrics: Metrics = field(default_factory=Metrics.off, kw_only=True)
    """The process's metrics (platform calls and 429s are counted per API method)."""
