"""Per-conversation FIFO ordering: one generation at a time per ``ConversationKey``.

``asyncio.Lock`` wakes waiters in arrival order, so messages are answered in the order they
were accepted. Locks are dropped as soon as nobody holds or waits for them.
"""

from __future__ import annotations

import asyncio

from bot.model import ConversationKey


class KeyedLocks:
    """A lock per conversation, created on demand and forgotten when idle."""

    def __init__(self) -> None:
        self._locks: dict[ConversationKey, tuple[asyncio.Lock, int]] = {}

    def hold(self, key: ConversationKey) -> _Hold:
        """An async context manager holding ``key``'s lock (a small object: one per stream)."""
        return _Hold(self, key)

    def _enter(self, key: ConversationKey) -> asyncio.Lock:
        lock, users = self._locks.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        return lock

    def _leave(self, key: ConversationKey) -> None:
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


class _Hold:
    __slots__ = ("_key", "_lock", "_locks")

    def __init__(self, locks: KeyedLocks, key: ConversationKey) -> None:
        self._locks, self._key = locks, key
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> None:
        self._lock = self._locks._enter(self._key)
        try:
            await self._lock.acquire()
        except BaseException:
            self._locks._leave(self._key)
            raise

    async def __aexit__(self, *exc: object) -> None:
        assert self._lock is not None
        self._lock.release()
        self._locks._leave(self._key)
