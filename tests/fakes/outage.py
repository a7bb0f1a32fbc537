"""Real database faults on loopback, for the durability tests.

``pg_database()`` gives a test a PostgreSQL database of its own (created and dropped on the
server ``tests/store/conftest.py`` uses, failing, not skipping, when it is unreachable).
``cut(url)`` makes that database refuse every new connection (``ALLOW_CONNECTIONS false``) and
terminates the sessions a running Threadline holds: from then on every query fails, as when the
database server goes away. ``restore(url)`` lets connections in again.

``sqlite_rows`` reads a SQLite file the way an operator would, to check what a killed process
left behind.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.store.db import normalize_url
from tests.store.conftest import DEFAULT_PG, create_pg_database, drop_pg_database

CONNECT_TIMEOUT = 5.0


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """An empty PostgreSQL database for one test; its URL (``postgresql+asyncpg://``)."""
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


async def cut(url: str) -> None:
    """Refuse new connections to the database of ``url`` and end every session it has."""
    name = _name(url)
    await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await _admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )


async def restore(url: str) -> None:
    """Let connections to the database of ``url`` in again."""
    await _admin(f'ALTER DATABASE "{_name(url)}" ALLOW_CONNECTIONS true')


def sqlite_rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of one query on a SQLite file (a short-lived connection of its own)."""
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
        return list(conn.execute(sql, args))


def _name(url: str) -> str:
    name = make_url(url).database
    assert name and name.isidentifier(), url
    return name


async def _admin(sql: str) -> None:
    admin = normalize_url(os.environ.get("THREADLINE_TEST_POSTGRES_URL", DEFAULT_PG))
    engine = create_async_engine(
        admin,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": CONNECT_TIMEOUT},
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()
