"""Per-conversation FIFO ordering: one generation at a time per ``ConversationKey``.

``asyncio.Lock`` wakes waiters in arrival order, so messages are answered in the order they
were accepted. Locks are dropped as soon as nobody holds or waits for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.model import ConversationKey


class KeyedLocks:
    """A lock per conversation, created on demand and forgotten when idle."""

    def __init__(self) -> None:
        self._locks: dict[ConversationKey, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: ConversationKey) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def waiting(self, key: ConversationKey) -> int:
        """How many holders and waiters the conversation has (0 when idle)."""
        return self._locks.get(key, (None, 0))[1]

    def __len__(self) -> int:
        return len(self._locks)
