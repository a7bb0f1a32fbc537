"""`threadline doctor` on databases that answer but are not usable (issue 9, item 17): corrupt
pages, a read-only file, a schema newer than the code. Each gets advice that works."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess

import pytest

from tests.cli.test_console import threadline

ENV = {"LLM_API_KEY": "k", "LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MAX_RETRIES": "0"}


@pytest.fixture
async def db_path(tmp_path):
    code, _, err = await threadline("db", "upgrade", env=ENV, cwd=tmp_path)
    assert code == 0, err
    await threadline("console", stdin="hello\n", env=ENV, cwd=tmp_path)  # some history
    return tmp_path / "xdg" / "threadline" / "threadline.db"


async def doctor_database_line(tmp_path):
    code, out, err = await threadline("doctor", env=ENV, cwd=tmp_path)
    assert "Traceback" not in err
    line = next(line for line in out.splitlines() if line.startswith("database"))
    return code, line


async def test_a_healthy_database_is_ok(tmp_path, db_path):
    _, line = await doctor_database_line(tmp_path)
    assert line.startswith("database  ok:") and "quick_check ok, writable" in line


async def test_corrupt_pages_are_found_and_a_backup_is_advised(tmp_path, db_path):
    db = sqlite3.connect(db_path)
    (page,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'messages'").fetchone()
    (size,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    data = bytearray(db_path.read_bytes())  # garbage over the messages table, the rest intact
    data[(page - 1) * size : page * size] = bytes(range(256)) * (size // 256)
    db_path.write_bytes(bytes(data))
    code, line = await doctor_database_line(tmp_path)
    assert code == 1 and "FAILED" in line and "damaged" in line
    assert "restore it from a backup" in line and "db upgrade`\n" not in line


async def test_a_read_only_file_is_found_and_permissions_are_advised(tmp_path, db_path):
    with read_only(db_path):
        code, line = await doctor_database_line(tmp_path)
    assert code == 1 and "FAILED" in line and "cannot be written" in line
    assert "fix the permissions" in line


async def test_a_newer_schema_advises_upgrading_threadline_not_the_database(tmp_path, db_path):
    db = sqlite3.connect(db_path)
    with db:
        db.execute("UPDATE alembic_version SET version_num = 'f00dfeed9999'")
    db.close()
    code, line = await doctor_database_line(tmp_path)
    assert code == 1 and "f00dfeed9999" in line and "upgrade Threadline" in line
    assert "run `threadline db upgrade`" not in line


async def test_an_older_schema_advises_db_upgrade(tmp_path, db_path):
    db = sqlite3.connect(db_path)
    with db:
        db.execute("DELETE FROM alembic_version")
    db.close()
    code, line = await doctor_database_line(tmp_path)
    assert code == 1 and "run `threadline db upgrade`" in line


class read_only:
    """Make a file unwritable, even for root (``chattr +i``); skip if this system can't."""

    def __init__(self, path):
        self.path = path
        self.immutable = os.geteuid() == 0

    def __enter__(self):
        if self.immutable:
            chattr = shutil.which("chattr")
            done = chattr and subprocess.run([chattr, "+i", str(self.path)], check=False)
            if not done or done.returncode != 0:
                pytest.skip("cannot make a file read-only for root here (no chattr +i)")
        else:
            self.path.chmod(0o444)
        return self

    def __exit__(self, *exc_info):
        if self.immutable:
            subprocess.run(["chattr", "-i", str(self.path)], check=True)
        else:
            self.path.chmod(0o644)
