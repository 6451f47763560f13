"""One exit code per kind of environment failure, for real, on SQLite and the disk.

A full disk (a 1 MiB tmpfs) is exit 5 (retryable), a read-only database exit 3 (a
refusal). Before, a full disk was exit 1 and a read-only database exit 75.
"""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path

import pytest

from etl_framework.exceptions import AccessDeniedError, ExitCode, OutOfSpaceError
from etl_framework.failures import environment_error
from tests.support.failure_kinds import run_demo, tiny_tmpfs


def test_a_full_disk_under_the_sqlite_warehouse_is_exit_5(tmp_path: Path) -> None:
    with tiny_tmpfs(tmp_path / "tiny") as tiny:
        result, error = run_demo(tmp_path, f"sqlite:///{tiny / 'warehouse.db'}")
    assert result.returncode == ExitCode.OUT_OF_SPACE == 5, result.stderr[-2000:]
    assert error == "database failed (out of space): database or disk is full"


def test_a_read_only_sqlite_warehouse_is_a_refusal_exit_3(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "ro.db"
    sqlite3.connect(db).close()
    result, error = run_demo(tmp_path, f"sqlite:///file:{db}?mode=ro&uri=true")
    assert result.returncode == ExitCode.CONFIG == 3, result.stderr[-2000:]
    assert error == "database refused (read-only): attempt to write a readonly database"


def test_os_errors_are_classified_by_errno(tmp_path: Path) -> None:
    with tiny_tmpfs(tmp_path / "tiny") as tiny:
        try:
            (tiny / "big").write_bytes(b"x" * (2 * 1024 * 1024))
        except OSError as exc:
            full = exc
    assert full.errno == errno.ENOSPC
    assert isinstance(environment_error(full, "run"), OutOfSpaceError)
    wrapped = RuntimeError("page cache write failed")
    wrapped.__cause__ = full
    assert isinstance(environment_error(wrapped, "run"), OutOfSpaceError)
    for code, kind in ((errno.EDQUOT, OutOfSpaceError), (errno.EROFS, AccessDeniedError)):
        assert isinstance(environment_error(OSError(code, "x"), "run"), kind)
    error = environment_error(PermissionError(errno.EACCES, "Permission denied", "/x"), "run")
    assert isinstance(error, AccessDeniedError) and error.exit_code == 3
    assert environment_error(ValueError("no"), "run") is None
    # the words only count from the OS or a driver, not in any message (e.g. a record's)
    assert environment_error(ValueError("database or disk is full"), "run") is None


@pytest.mark.parametrize("reason", ["quotaExceeded"])
def test_a_bigquery_quota_is_the_same_kind_as_a_full_disk(reason: str) -> None:
    pytest.importorskip("google.api_core")
    from google.api_core import exceptions as gexc

    from etl_framework.connectors.bigquery import job_failure

    exc = gexc.Forbidden("Quota exceeded", errors=[{"reason": reason, "message": "Quota exceeded"}])
    error = job_failure(exc, "load")
    assert isinstance(error, OutOfSpaceError) and error.exit_code == 5
    assert str(error) == "BigQuery load failed (quota exceeded): Quota exceeded"


def _ledger_run(tmp_path: Path, state_url: str) -> tuple[int, list[str]]:
    from tests.support.pipeline import run_pipeline

    config = tmp_path / "config.yaml"
    config.write_text(
        f"state: {{url: '{state_url}'}}\n"
        f"connections:\n  warehouse: {{type: sql, url: 'sqlite:///{tmp_path / 'wh.db'}'}}\n"
    )
    result = run_pipeline(["20240115", "demo_orders", "truncate", str(config)], cwd=tmp_path)
    return result.returncode, result.stderr.splitlines()


def test_the_ledger_on_a_full_disk_is_exit_5_in_one_line(tmp_path: Path) -> None:
    with tiny_tmpfs(tmp_path / "tiny", size="64k") as tiny:
        with contextlib.suppress(OSError):  # fill the file system up
            (tiny / "filler").write_bytes(b"\0" * (128 * 1024))
        code, lines = _ledger_run(tmp_path, f"sqlite:///{tiny / 'state.db'}")
    assert code == 5, lines
    assert lines == ["pipeline: error: run ledger failed (out of space): database or disk is full"]


def test_a_read_only_ledger_is_exit_3_in_one_line(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "state.db").close()
    code, lines = _ledger_run(tmp_path, f"sqlite:///file:{tmp_path / 'state.db'}?mode=ro&uri=true")
    assert code == 3, lines
    assert lines == [
        "pipeline: error: run ledger refused (read-only): attempt to write a readonly database"
    ]
