"""Real database faults on loopback, for the durability tests.

``pg_database()`` (from ``tests/store/conftest.py``) gives a test a PostgreSQL database of its
own, failing, not skipping, when the server is unreachable.
``cut(url)`` makes that database refuse every new connection (``ALLOW_CONNECTIONS false``) and
terminates the sessions a running Threadline holds: from then on every query fails, as when the
database server goes away. ``restore(url)`` lets connections in again.

``sqlite_rows`` reads a SQLite file the way an operator would, to check what a killed process
left behind.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from tests.store.conftest import pg_admin


async def cut(url: str) -> None:
    """Refuse new connections to the database of ``url`` and end every session it has."""
    name = _name(url)
    await pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await pg_admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )


async def restore(url: str) -> None:
    """Let connections to the database of ``url`` in again."""
    await pg_admin(f'ALTER DATABASE "{_name(url)}" ALLOW_CONNECTIONS true')


def sqlite_rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of one query on a SQLite file (a short-lived connection of its own)."""
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
        return list(conn.execute(sql, args))


def _name(url: str) -> str:
    name = make_url(url).database
    assert name and name.isidentifier(), url
    return name
