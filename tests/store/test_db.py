"""URLs, engine setup, opening the store and its failures."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.errors import StoreError
from bot.model import ChatMessage, ConversationKey, Role
from bot.store.db import describe_url, make_engine, normalize_url, sqlite_path
from bot.store.migrate import upgrade
from bot.store.sql import SqlConversationStore, open_store

from .conftest import in_thread

KEY = ConversationKey("console", "", "local")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("sqlite:///a/b.db", "sqlite+aiosqlite:///a/b.db", id="sqlite"),
        pytest.param("sqlite+aiosqlite:////abs.db", "sqlite+aiosqlite:////abs.db", id="aiosqlite"),
        pytest.param("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db", id="postgres"),
        pytest.param("postgresql://u@h:5/db", "postgresql+asyncpg://u@h:5/db", id="postgresql"),
        pytest.param("postgresql+asyncpg://h/db", "postgresql+asyncpg://h/db", id="asyncpg"),
        pytest.param(" PostgreSQL://h/db ", "postgresql+asyncpg://h/db", id="case-and-space"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        pytest.param("mysql://h/db", "scheme 'mysql' is not supported", id="mysql"),
        pytest.param("postgresql+psycopg://h/db", "is not supported", id="other-driver"),
        pytest.param("threadline.db", "is not a URL", id="bare-path"),
    ],
)
def test_unsupported_urls(given: str, complaint: str) -> None:
    with pytest.raises(StoreError, match=complaint) as caught:
        normalize_url(given)
    assert "sqlite:///" in str(caught.value)  # says what is accepted


def test_sqlite_path_and_description(tmp_path: Path) -> None:
    assert sqlite_path(f"sqlite:///{tmp_path}/x.db") == tmp_path / "x.db"
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql://h/db") is None
    assert describe_url(f"sqlite:///{tmp_path}/x.db") == str(tmp_path / "x.db")
    assert describe_url("postgres://u:secret@h/db") == "postgres://u:***@h/db"


async def test_sqlite_connection_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        async with engine.connect() as conn:
            pragmas = [
                (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("foreign_keys", "journal_mode", "busy_timeout", "synchronous")
            ]
    finally:
        await engine.dispose()
    assert pragmas == [1, "wal", 5000, 1]


async def test_sqlite_transactions_roll_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (1)"))
                await conn.execute(text("DROP TABLE t"))  # DDL is transactional too
                raise RuntimeError
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        await engine.dispose()


async def test_concurrent_writers_on_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    in_thread(upgrade, url)
    engines = [make_engine(url), make_engine(url)]
    try:
        stores = [SqlConversationStore(engine) for engine in engines]
        writes = [
            stores[i % 2].add_message(KEY, ChatMessage(Role.USER, f"m{i}")) for i in range(40)
        ]
        ids = await asyncio.gather(*writes)
        assert len(set(ids)) == 40
        assert len(await stores[0].export(KEY)) == 40
    finally:
        for engine in engines:
            await engine.dispose()


async def test_open_store_migrates_and_creates_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "threadline.db"
    async with open_store(f"sqlite:///{path}", migrate=True) as store:
        message_id = await store.add_message(KEY, ChatMessage(Role.USER, "hello"))
    assert path.is_file()
    async with open_store(f"sqlite:///{path}") as store:
        [message] = await store.load_context(KEY, 5)
    assert (message.id, message.content) == (message_id, "hello")


async def test_open_store_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.db"
    with pytest.raises(
        StoreError, match=r"no database at .*new.db yet: run `threadline db upgrade`"
    ):
        async with open_store(f"sqlite:///{path}"):
            pass
    assert not path.parent.exists()
    path.parent.mkdir()
    engine = make_engine(f"sqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE unrelated (x INTEGER)"))
    finally:
        await engine.dispose()
    with pytest.raises(StoreError, match="no schema yet"):
        async with open_store(f"sqlite:///{path}"):
            pass


async def test_open_store_on_postgresql(pg_session_url: str) -> None:
    async with open_store(pg_session_url, migrate=True) as store:
        assert await store.claim_event("test", "open-store-pg")
        assert not await store.claim_event("test", "open-store-pg")


async def test_database_errors_become_store_errors(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        store = SqlConversationStore(engine)
        with pytest.raises(StoreError, match=r"no such table: conversations") as caught:
            await store.add_message(KEY, ChatMessage(Role.USER, "private words"))
    finally:
        await engine.dispose()
    assert "private words" not in str(caught.value)
    assert caught.value.user_message.startswith("The conversation database is unavailable")


@pytest.mark.parametrize("migrate", [True, False])
async def test_unwritable_sqlite_path(tmp_path: Path, migrate: bool) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    path = blocker / "data" / "threadline.db"
    with pytest.raises(StoreError) as caught:
        async with open_store(f"sqlite:///{path}", migrate=migrate):
            pass
    message = str(caught.value)
    assert str(path) in message and "DATABASE_URL" in message and "writable" in message
    assert "\n" not in message
    assert_untouched(tmp_path)


def assert_untouched(tmp_path: Path) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-dir"]
    assert (tmp_path / "not-a-dir").read_text() == "a file where a directory should be"


def test_upgrade_of_unwritable_sqlite_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="Cannot open the SQLite database"):
        in_thread(upgrade, f"sqlite:///{blocker / 'x.db'}")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


async def test_directory_where_the_database_file_should_be(tmp_path: Path) -> None:
    (tmp_path / "threadline.db").mkdir()
    with pytest.raises(StoreError, match="is not a readable and writable file"):
        async with open_store(f"sqlite:///{tmp_path / 'threadline.db'}", migrate=True):
            pass


async def test_unreachable_postgresql_is_a_store_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = make_engine(f"postgresql://postgres:pw@127.0.0.1:{port}/none")
    try:
        with pytest.raises(StoreError, match=r"^database error \(\w+\): .*127\.0\.0\.1"):
            await SqlConversationStore(engine).claim_event("slack", "E1")
    finally:
        await engine.dispose()


async def test_values_that_are_not_json_are_refused(store: SqlConversationStore) -> None:
    with pytest.raises(StoreError, match="not JSON serializable"):
        await store.set_settings(KEY, {"bad": object()})
    assert await store.get_settings(KEY) == {}
