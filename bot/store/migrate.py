"""Schema migrations: Alembic ``upgrade head`` run from code, and revision checks for ``doctor``.

The Alembic configuration is built here rather than read from ``alembic.ini``: the scripts live
in the top-level ``migrations`` package (shipped in the wheel, and importable from a source
checkout), and the database URL is handed to ``migrations/env.py`` through
``Config.attributes["database_url"]``. ``alembic.ini`` at the repository root is only for
developers running ``alembic`` by hand.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.errors import StoreError
from bot.store.db import (
    describe_url,
    make_engine,
    normalize_url,
    prepare_sqlite_file,
    sqlite_path,
)

logger = logging.getLogger(__name__)

URL_ATTRIBUTE = "database_url"
UPGRADE_HINT = "run `threadline db upgrade`"


def script_location() -> Path:
    """The ``migrations`` package directory: beside ``bot/`` (checkout or wheel) or importable."""
    candidates = [Path(__file__).resolve().parents[2] / "migrations"]
    spec = importlib.util.find_spec("migrations")
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))))
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    raise StoreError("The Threadline migration scripts are missing: reinstall the package.")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` for the packaged scripts, optionally bound to ``url``."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if url is not None:
        config.attributes[URL_ATTRIBUTE] = normalize_url(url)
    return config


def head_revision() -> str:
    """The newest schema revision this version of Threadline knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreError(
            "The Threadline migration scripts have no revision: reinstall the package."
        )
    return head


def upgrade(url: str) -> None:
    """Upgrade the database at ``url`` to the newest schema (blocking; no running event loop)."""
    prepare_sqlite_file(url)
    config = alembic_config(url)
    try:
        command.upgrade(config, "head")
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(
            f"Database upgrade of {describe_url(url)} failed: {_one_line(exc)}"
        ) from exc
    logger.info("database %s is at revision %s", describe_url(url), head_revision())


async def upgrade_async(url: str) -> None:
    """``upgrade`` for async callers (Alembic runs its own event loop, so in a worker thread)."""
    await asyncio.to_thread(upgrade, url)


async def current_revision(url: str) -> str | None:
    """The database's schema revision; None when it has none (empty or missing SQLite file)."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None
    engine = make_engine(url, null_pool=True)
    try:
        return await _revision(engine, url)
    finally:
        await engine.dispose()


def current_revision_sync(url: str) -> str | None:
    """Blocking ``current_revision`` for synchronous callers (no running event loop)."""
    return asyncio.run(current_revision(url))


async def check_current(engine: AsyncEngine, url: str) -> None:
    """StoreError unless the database behind ``engine`` is at the newest revision."""
    current, head = await _revision(engine, url), head_revision()
    if current == head:
        return
    if current is None:
        raise StoreError(f"The database {describe_url(url)} has no schema yet: {UPGRADE_HINT}.")
    known = ScriptDirectory.from_config(alembic_config())
    if current not in {script.revision for script in known.walk_revisions()}:
        raise StoreError(
            f"The database {describe_url(url)} is at revision {current}, which this version of "
            "Threadline does not know: upgrade Threadline."
        )
    raise StoreError(
        f"The database {describe_url(url)} is at revision {current}, not {head}: {UPGRADE_HINT}."
    )


async def _revision(engine: AsyncEngine, url: str) -> str | None:
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_read_revision)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"Cannot read the database {describe_url(url)}: {_one_line(exc)}") from exc


def _read_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    source = orig if isinstance(orig, BaseException) else exc
    text = str(source).strip()
    return text.splitlines()[0] if text else type(source).__name__
