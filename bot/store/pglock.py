"""Per-conversation turns across replicas: PostgreSQL session advisory locks.

Each live answer holds ``pg_advisory_lock(<conversation hash>)`` on a connection of its own (no
transaction stays open: the connection is in autocommit), so replicas sharing one database
answer a conversation one message at a time, in the order the waiters queued. The lock goes
away with the connection if a replica dies. Connections come from a pool-less engine so they
never starve the store's own pool.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator

from sqlalchemy import URL, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.errors import StoreError
from bot.model import ConversationKey

LOCK = text("SELECT pg_advisory_lock(:id)")
UNLOCK = text("SELECT pg_advisory_unlock(:id)")


def lock_id(key: ConversationKey) -> int:
    """A stable signed 64-bit id for the conversation (PostgreSQL's bigint lock key)."""
    digest = hashlib.blake2b(str(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLocks:
    """Hands out conversation turns held in PostgreSQL."""

    def __init__(self, url: URL, connect_timeout: float) -> None:
        self._engine: AsyncEngine = create_async_engine(
            url, poolclass=NullPool, connect_args={"timeout": connect_timeout}
        )

    @contextlib.asynccontextmanager
    async def hold(self, key: ConversationKey) -> AsyncIterator[None]:
        """Wait for the conversation's turn and keep it for the block."""
        params = {"id": lock_id(key)}
        conn = await self._acquire(params)
        try:
            yield
        finally:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.execute(UNLOCK, params)
            await _close(conn)

    async def _acquire(self, params: dict[str, int]) -> AsyncConnection:
        conn = self._engine.connect()
        try:
            await conn.start()
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(LOCK, params)
        except (SQLAlchemyError, OSError) as exc:
            await _close(conn)
            raise StoreError(f"could not take the conversation lock: {type(exc).__name__}") from exc
        except BaseException:
            await _close(conn)
            raise
        return conn

    async def close(self) -> None:
        await self._engine.dispose()


async def _close(conn: AsyncConnection) -> None:
    with contextlib.suppress(SQLAlchemyError, OSError):
        await conn.close()
