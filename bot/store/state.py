"""Process-wide state in the database (``app_state``) and named locks across processes.

Some decisions must be taken once for every process sharing a database, not once per process:
registering the Discord slash commands is the first. ``get_state``/``set_state`` keep small
text values (a hash, a JSON document) under a key; ``hold_lock(name)`` lets one process at a
time through a critical section:

* PostgreSQL: a session advisory lock (``pg_advisory_lock``) on a connection of its own (no
  pool, autocommit), so it goes away with the connection if the holder dies and never ties up
  a connection of the store's pool. The lock id is derived from the name and never collides
  with the conversation locks of ``bot.store.pglock`` (those hash a conversation key).
* SQLite: one process serves the database (its single writer), so an in-process lock per name
  is enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.errors import StoreError
from bot.store.db import make_engine
from bot.store.tables import AppState

LOCK = text("SELECT pg_advisory_lock(:id)")
UNLOCK = text("SELECT pg_advisory_unlock(:id)")
LOCK_PREFIX = "threadline-named-lock:"

Insert = sqlite.Insert | postgresql.Insert


class StateStore(Protocol):
    """What a caller needs to decide something once across processes."""

    async def get_state(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        ...

    async def set_state(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (replacing what was there)."""
        ...

    def hold_lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """Hold the lock ``name`` across every process sharing the database, for the block."""
        ...


def named_lock_id(name: str) -> int:
    """A stable signed 64-bit advisory lock id for ``name``."""
    digest = hashlib.blake2b((LOCK_PREFIX + name).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class StateQueries:
    """``StateStore`` for ``SqlConversationStore`` (a mixin over its engine and transactions)."""

    _engine: AsyncEngine
    _sqlite: bool
    _clock: Callable[[], datetime]

    def _tx(self, *, write: bool) -> AbstractAsyncContextManager[AsyncConnection]:
        raise NotImplementedError  # SqlConversationStore's transaction

    def _insert(self, table: type[Any]) -> Insert:
        raise NotImplementedError  # SqlConversationStore's dialect insert

    async def get_state(self, key: str) -> str | None:
        async with self._tx(write=False) as conn:
            value = await conn.scalar(select(AppState.value).where(AppState.key == key))
        return None if value is None else str(value)

    async def set_state(self, key: str, value: str) -> None:
        row = {"key": key, "value": value, "updated_at": self._clock()}
        stmt = self._insert(AppState).values(row)
        upsert = stmt.on_conflict_do_update(
            index_elements=[AppState.key],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
        async with self._tx(write=True) as conn:
            await conn.execute(upsert)

    def hold_lock(self, name: str) -> AbstractAsyncContextManager[None]:
        if self._sqlite:
            return _local_lock(self, name)
        url = self._engine.url.render_as_string(hide_password=False)
        return _advisory_lock(url, named_lock_id(name))


_LOCAL_LOCKS = "_threadline_named_locks"


def _local_lock(owner: object, name: str) -> asyncio.Lock:
    """The in-process lock ``name`` of ``owner`` (a store), created on first use."""
    locks: dict[str, asyncio.Lock] = owner.__dict__.setdefault(_LOCAL_LOCKS, {})
    return locks.setdefault(name, asyncio.Lock())


@contextlib.asynccontextmanager
async def _advisory_lock(url: str, lock_id: int) -> AsyncIterator[None]:
    engine = make_engine(url, null_pool=True)
    try:
        conn = await _locked_connection(engine, lock_id)
        try:
            yield
        finally:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.execute(UNLOCK, {"id": lock_id})
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.close()
    finally:
        await engine.dispose()


async def _locked_connection(engine: AsyncEngine, lock_id: int) -> AsyncConnection:
    conn = engine.connect()
    try:
        await conn.start()
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(LOCK, {"id": lock_id})
    except (SQLAlchemyError, OSError) as exc:
        with contextlib.suppress(SQLAlchemyError, OSError):
            await conn.close()
        raise StoreError(f"could not take a database lock: {type(exc).__name__}") from exc
    except BaseException:
        with contextlib.suppress(SQLAlchemyError, OSError):
            await conn.close()
        raise
    return conn
