"""Database health for ``threadline doctor``: integrity, writability and schema revision.

Each check ends in one line that says what works, decided as follows:

- **Integrity** (SQLite only: ``PRAGMA quick_check``; a file SQLite calls "malformed" or "not a
  database" counts too): damaged → restore the file from a backup.
- **Writability**: ``UPDATE alembic_version`` (a no-op) inside a transaction that is rolled
  back, so nothing changes: refused (read-only file or directory, a read-only PostgreSQL role)
  → fix the permissions; locked → another process holds the database, try again.
- **Revision**: none → ``threadline db upgrade``; an older revision this version knows →
  ``threadline db upgrade``; a revision it does not know (written by a newer Threadline) →
  upgrade Threadline (``db upgrade`` cannot go forward from an unknown revision).

Checks run in that order and the first failure is reported. Nothing is created or migrated:
a missing SQLite file is reported, not made.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.errors import StoreError
from bot.store.db import WRITE, describe_url, make_engine, sqlite_path
from bot.store.migrate import UPGRADE_HINT, alembic_config, head_revision

RESTORE_HINT = "restore it from a backup (or move it aside and run `threadline db upgrade`)"
DAMAGED = ("malformed", "not a database", "corrupt")
REFUSED = ("readonly", "read-only", "read only", "permission denied", "unable to open")


@dataclass(frozen=True, slots=True)
class Health:
    """One line for ``doctor``: whether the database is usable, and what to do if not."""

    ok: bool
    detail: str


class _Unhealthy(Exception):
    """A check failed; ``detail`` is the line to print."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def check_database(url: str) -> Health:
    """Check the database at ``url`` without changing it (see the module doc)."""
    where = describe_url(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return Health(False, f"{where}: there is no database yet; {UPGRADE_HINT}")
    try:
        engine = make_engine(url, null_pool=True)
    except StoreError as exc:
        return Health(False, str(exc))
    is_sqlite = engine.dialect.name == "sqlite"
    try:
        revision = await _checks(engine, is_sqlite=is_sqlite)
    except _Unhealthy as exc:
        return Health(False, f"{where}: {exc.detail}")
    finally:
        await engine.dispose()
    checked = "quick_check ok, writable" if is_sqlite else "writable"
    return Health(True, f"{where} at revision {revision} ({checked})")


async def _checks(engine: AsyncEngine, *, is_sqlite: bool) -> str:
    try:
        async with engine.connect() as conn:
            if is_sqlite:
                await _integrity(conn)
            current = await conn.run_sync(_read_revision)
            await conn.rollback()
            if current is not None:
                await _writable(conn)
    except SQLAlchemyError as exc:
        raise _Unhealthy(_explain(exc)) from exc
    except OSError as exc:
        raise _Unhealthy(f"cannot open it: {exc}") from exc
    return _revision_verdict(current)


async def _integrity(conn: AsyncConnection) -> None:
    rows = (await conn.exec_driver_sql("PRAGMA quick_check")).all()
    problems = [str(row[0]) for row in rows if str(row[0]).lower() != "ok"]
    if problems:
        raise _Unhealthy(f"the file is damaged (quick_check: {problems[0][:120]}); {RESTORE_HINT}")


async def _writable(conn: AsyncConnection) -> None:
    """A no-op write in a transaction that is always rolled back."""
    await conn.execution_options(**WRITE)
    transaction = await conn.begin()
    try:
        await conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
    finally:
        await transaction.rollback()


def _read_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _revision_verdict(current: str | None) -> str:
    head = head_revision()
    if current == head:
        return current
    if current is None:
        raise _Unhealthy(f"it has no schema yet; {UPGRADE_HINT}")
    scripts = ScriptDirectory.from_config(alembic_config()).walk_revisions()
    known = {script.revision for script in scripts}
    if current not in known:
        raise _Unhealthy(
            f"it is at revision {current}, newer than this version of Threadline knows "
            f"(its newest is {head}): upgrade Threadline; `db upgrade` cannot help"
        )
    raise _Unhealthy(f"it is at revision {current}, not {head}; {UPGRADE_HINT}")


def _explain(exc: SQLAlchemyError) -> str:
    reason = _one_line(exc)
    lowered = reason.lower()
    if any(word in lowered for word in DAMAGED):
        return f"the file is damaged ({reason}); {RESTORE_HINT}"
    if "locked" in lowered:
        return f"it is locked by another process ({reason}); try again in a moment"
    if any(word in lowered for word in REFUSED):
        return (
            f"it cannot be written ({reason}); fix the permissions of the database "
            "(file and directory for SQLite, the role's grants for PostgreSQL)"
        )
    return f"cannot use it: {reason}"


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    source = orig if isinstance(orig, BaseException) else exc
    first = str(source).strip().splitlines()
    return first[0] if first else type(source).__name__
