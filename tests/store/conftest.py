"""Fixtures for the store contract: a migrated SQLite file and a migrated PostgreSQL database.

PostgreSQL is required. It is found at ``THREADLINE_TEST_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); the tests create a uniquely named
database on that server for the session and drop it afterwards. If the server cannot be
reached the PostgreSQL tests fail, unless ``THREADLINE_SKIP_POSTGRES=1`` is set explicitly
(and ``CI`` is not set: on CI they always fail).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.store.db import describe_url, make_engine, normalize_url
from bot.store.migrate import upgrade
from bot.store.sql import SqlConversationStore
from bot.store.tables import Base

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CONNECT_TIMEOUT = 5.0
SETUP_TIMEOUT = 60.0


def in_thread(function: Callable[..., object], *args: object) -> object:
    """Run blocking ``function`` in a worker thread, so its event loop never meets pytest's."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result(timeout=SETUP_TIMEOUT)


def run_async(factory: Callable[[], Coroutine[object, object, object]]) -> object:
    """Run a coroutine to completion on a private event loop in a worker thread."""
    return in_thread(lambda: asyncio.run(factory()))


class FakeClock:
    """A settable UTC clock for the store."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def _admin_url() -> str:
    return normalize_url(os.environ.get("THREADLINE_TEST_POSTGRES_URL", DEFAULT_PG))


def _with_database(name: str) -> str:
    url = make_url(_admin_url()).set(database=name)
    return url.render_as_string(hide_password=False)


async def pg_admin(sql: str) -> None:
    """Run ``sql`` on the test server's admin database (autocommit, a connection of its own)."""
    engine = create_async_engine(
        _admin_url(),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": CONNECT_TIMEOUT},
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _require_postgres() -> None:
    try:
        run_async(lambda: pg_admin("SELECT 1"))
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        reason = f"PostgreSQL at {describe_url(_admin_url())} is unreachable: {exc!r}"
        if os.environ.get("THREADLINE_SKIP_POSTGRES") == "1" and not os.environ.get("CI"):
            pytest.skip(f"{reason} (THREADLINE_SKIP_POSTGRES=1)")
        if os.environ.get("CI"):
            pytest.fail(f"{reason}. CI is set, so the PostgreSQL tests must run.")
        pytest.fail(f"{reason}. Start it, or set THREADLINE_SKIP_POSTGRES=1 to skip explicitly.")


def create_pg_database() -> str:
    """Create a uniquely named database; return its URL."""
    _require_postgres()
    name = f"threadline_test_{uuid.uuid4().hex[:12]}"
    run_async(lambda: pg_admin(f'CREATE DATABASE "{name}"'))
    return _with_database(name)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    run_async(lambda: pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """A migrated PostgreSQL database shared by the session (tables emptied per test)."""
    url = create_pg_database()
    try:
        in_thread(upgrade, url)
        yield url
    finally:
        drop_pg_database(url)


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """An empty PostgreSQL database for one test; its URL (``postgresql+asyncpg://``)."""
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty PostgreSQL database of its own (for migration tests)."""
    with pg_database() as url:
        yield url


async def _truncate(url: str) -> None:
    engine = make_engine(url, null_pool=True)
    names = ", ".join(table.name for table in Base.metadata.sorted_tables)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated database URL of each dialect."""
    if request.param == "sqlite":
        sqlite_url = f"sqlite:///{tmp_path / 'data' / 'threadline.db'}"
        in_thread(upgrade, sqlite_url)
        return sqlite_url
    url: str = request.getfixturevalue("pg_session_url")
    run_async(lambda: _truncate(url))
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(store_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def store(engine: AsyncEngine, clock: FakeClock) -> SqlConversationStore:
    return SqlConversationStore(engine, clock=clock)
