"""The PostgreSQL server the PostgreSQL benchmarks use, and databases on it.

The server is ``THREADLINE_BENCH_POSTGRES_URL``, else ``THREADLINE_TEST_POSTGRES_URL``, else
the tests' default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``; each benchmark
works in a database of its own on it (named after the benchmark), never in that one.
"""

from __future__ import annotations

import os

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.store.db import make_engine, normalize_url

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    url = os.environ.get("THREADLINE_BENCH_POSTGRES_URL") or os.environ.get(
        "THREADLINE_TEST_POSTGRES_URL", DEFAULT_SERVER
    )
    return normalize_url(url)


def database_url(name: str) -> str:
    """The URL of database ``name`` on the benchmark server."""
    return make_url(server_url()).set(database=name).render_as_string(hide_password=False)


async def admin(sql: str) -> None:
    """Run one statement outside a transaction (CREATE / DROP DATABASE)."""
    engine = make_engine(server_url(), null_pool=True)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def recreate(name: str) -> str:
    """An empty database ``name`` (dropped first if it exists); its URL."""
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "{name}"')
    return database_url(name)


async def drop(name: str) -> None:
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
