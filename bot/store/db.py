"""Database URLs, engines and opening the store.

Accepted URLs: ``sqlite:///path`` or ``sqlite+aiosqlite:///path`` (SQLite through aiosqlite),
``postgresql://``, ``postgres://`` or ``postgresql+asyncpg://`` (PostgreSQL through asyncpg).

SQLite connections run with ``foreign_keys=ON``, ``journal_mode=WAL``, ``synchronous=NORMAL``
and a ``busy_timeout``. The driver's own transaction handling is switched off
(``isolation_level = None``) and SQLAlchemy emits ``BEGIN`` itself, as the SQLAlchemy SQLite
documentation recommends; connections carrying the ``WRITE`` execution options begin with
``BEGIN IMMEDIATE``, so concurrent writers queue on the write lock (up to ``busy_timeout``)
instead of failing when a read lock cannot be upgraded.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.errors import StoreError

if TYPE_CHECKING:
    from bot.store.sql import SqlConversationStore

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 10.0
BEGIN_OPTION = "threadline_begin"
WRITE: dict[str, Any] = {BEGIN_OPTION: "BEGIN IMMEDIATE"}
URL_HELP = "use sqlite:///path/to/threadline.db or postgresql://user@host/dbname"


def normalize_url(url: str) -> str:
    """Rewrite a database URL to the async driver Threadline uses; StoreError if unsupported."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise StoreError(f"DATABASE_URL is not a URL ({len(text)} characters): {URL_HELP}.")
    drivers = {
        "sqlite": "sqlite+aiosqlite",
        "sqlite+aiosqlite": "sqlite+aiosqlite",
        "postgres": "postgresql+asyncpg",
        "postgresql": "postgresql+asyncpg",
        "postgresql+asyncpg": "postgresql+asyncpg",
    }
    driver = drivers.get(scheme.lower())
    if driver is None:
        raise StoreError(f"DATABASE_URL scheme {scheme!r} is not supported: {URL_HELP}.")
    return f"{driver}://{rest}"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(normalize_url(url))
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in {"", ":memory:"}:
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def make_engine(url: str, *, null_pool: bool = False) -> AsyncEngine:
    """An async engine for ``url`` (see the module docstring for what SQLite gets)."""
    normalized = normalize_url(url)
    kwargs: dict[str, Any] = {"poolclass": NullPool} if null_pool else {}
    try:
        if normalized.startswith("sqlite"):
            engine = create_async_engine(normalized, **kwargs)
            _configure_sqlite(engine)
            return engine
        connect_args = {"timeout": CONNECT_TIMEOUT_S}
        return create_async_engine(
            normalized, pool_pre_ping=True, connect_args=connect_args, **kwargs
        )
    except ImportError as exc:
        raise StoreError(
            f"DATABASE_URL needs the {exc.name} package: pip install 'threadline[postgres]'."
        ) from None
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"DATABASE_URL {describe_url(url)!r} is invalid: {exc}.") from None


def _configure_sqlite(engine: AsyncEngine) -> None:
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql(connection.get_execution_options().get(BEGIN_OPTION, "BEGIN"))


def prepare_sqlite_file(url: str) -> None:
    """Create the SQLite file's directory; StoreError naming the path if it is not writable."""
    path = sqlite_path(url)
    if path is None:
        return
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(_unwritable(path, f"cannot create {directory} ({exc.strerror})")) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StoreError(_unwritable(path, f"{directory} is not writable"))
    if path.exists() and not (path.is_file() and os.access(path, os.R_OK | os.W_OK)):
        raise StoreError(_unwritable(path, f"{path} is not a readable and writable file"))


def _unwritable(path: Path, reason: str) -> str:
    return (
        f"Cannot open the SQLite database {path}: {reason}. "
        "Set DATABASE_URL (or THREADLINE_DATA_DIR) to a writable location, or fix the permissions."
    )


def describe_url(url: str) -> str:
    """``url`` for messages and logs: the SQLite file path, or the URL with its password hidden."""
    try:
        path = sqlite_path(url)
        return str(path) if path else make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, StoreError):
        return url.rpartition("@")[2] or "(invalid URL)"


def _require_database(url: str) -> None:
    path = sqlite_path(url)
    if path is None or path.exists():
        prepare_sqlite_file(url)
        return
    ancestor = next(parent for parent in path.parents if parent.exists())
    if not (ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK)):
        raise StoreError(_unwritable(path, f"{ancestor} is not a writable directory"))
    from bot.store.migrate import UPGRADE_HINT

    raise StoreError(f"There is no database at {path} yet: {UPGRADE_HINT}.")


@asynccontextmanager
async def open_store(
    url: str, *, migrate: bool = False, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[SqlConversationStore]:
    """Open the store at ``url``; with ``migrate``, first upgrade the schema to the newest.
    ``clock`` replaces the store's UTC clock (tests).

    Without ``migrate`` the schema must already be current (``threadline db upgrade``);
    otherwise StoreError says so. The engine is disposed when the block exits.
    """
    # Imported here because both modules import this one.
    from bot.store.migrate import check_current, upgrade_async
    from bot.store.sql import SqlConversationStore

    if migrate:
        await upgrade_async(url)
    else:
        await asyncio.to_thread(_require_database, url)
    engine = make_engine(url)
    try:
        await check_current(engine, url)
        logger.info("store opened: %s", describe_url(url))
        store = SqlConversationStore(engine, **({"clock": clock} if clock else {}))
        try:
            yield store
        finally:
            await store.close()
    finally:
        await engine.dispose()
