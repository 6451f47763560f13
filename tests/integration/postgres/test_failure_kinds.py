"""One exit code per kind of environment failure, for real, on PostgreSQL.

Disk full (SQLSTATE 53100, a tablespace on a 1 MiB tmpfs) is exit 5; a read-only
database (25006, ``default_transaction_read_only``) and missing privileges (42501)
are refusals, exit 3. Before: 75, 75 and 1.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa

from etl_framework.exceptions import ExitCode
from tests.support.failure_kinds import run_demo, tiny_tmpfs


def _admin(url: str) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


def test_a_full_tablespace_is_exit_5(tmp_path: Path, postgres_url: str) -> None:
    engine = _admin(postgres_url)
    name = "tiny_" + uuid.uuid4().hex[:8]
    database = postgres_url.rsplit("/", 1)[1]
    mount_point = Path(tempfile.mkdtemp(prefix="etl-tiny-"))  # reachable by the server's user
    mount_point.chmod(0o755)
    with tiny_tmpfs(mount_point) as tiny:
        location = tiny / "ts"
        location.mkdir()
        if os.geteuid() == 0:
            shutil.chown(location, "postgres", "postgres")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE TABLESPACE {name} LOCATION '{location}'")
            conn.exec_driver_sql(f'ALTER DATABASE "{database}" SET default_tablespace = {name}')
        try:
            result, error = run_demo(tmp_path, postgres_url)
        finally:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'ALTER DATABASE "{database}" RESET default_tablespace')
                for (table,) in conn.exec_driver_sql(
                    "SELECT relname FROM pg_class c JOIN pg_tablespace t "
                    f"ON c.reltablespace = t.oid WHERE t.spcname = '{name}' AND c.relkind = 'r'"
                ):
                    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
                conn.exec_driver_sql(f"DROP TABLESPACE IF EXISTS {name}")
            engine.dispose()
    mount_point.rmdir()
    assert result.returncode == ExitCode.OUT_OF_SPACE == 5, result.stderr[-2000:]
    assert error.startswith("database failed (out of space): could not extend file"), error


def test_a_read_only_database_is_a_refusal_exit_3(tmp_path: Path, postgres_url: str) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    engine = _admin(postgres_url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    engine.dispose()
    result, error = run_demo(tmp_path, postgres_url)
    assert result.returncode == ExitCode.CONFIG == 3, result.stderr[-2000:]
    assert error.startswith("database refused (read-only): cannot execute"), error


def test_missing_privileges_are_a_refusal_exit_3(tmp_path: Path, postgres_url: str) -> None:
    role = "reader_" + uuid.uuid4().hex[:8]
    engine = _admin(postgres_url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}")
    engine.dispose()
    url = postgres_url.replace("postgres@", f"{role}@", 1)
    result, error = run_demo(tmp_path, url)
    assert result.returncode == ExitCode.CONFIG == 3, result.stderr[-2000:]
    assert error.startswith("database refused (permission denied): permission denied"), error
