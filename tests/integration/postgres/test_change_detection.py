"""``pipeline --skip-unchanged`` on the demo with a PostgreSQL ledger (real processes)."""

from __future__ import annotations

from pathlib import Path

from tests.services.postgres import create_database, drop_database
from tests.support.change_detection import check_skip_race, check_skip_unchanged
from tests.support.executions import etlctl, write_config


def test_demo_second_identical_run_is_skipped(tmp_path: Path, postgres_url: str) -> None:
    assert etlctl("db", "upgrade", write_config(tmp_path, postgres_url)).returncode == 0
    check_skip_unchanged(tmp_path, postgres_url)


def test_two_processes_at_once_skip_or_wait_per_lease(
    tmp_path: Path, postgres_url: str, postgres_server_url: str
) -> None:
    fresh = create_database(postgres_server_url)
    try:
        for n, url in enumerate((postgres_url, fresh)):
            (tmp_path / str(n)).mkdir()
            assert etlctl("db", "upgrade", write_config(tmp_path / str(n), url)).returncode == 0
        check_skip_race(tmp_path, postgres_url, fresh)
    finally:
        drop_database(postgres_server_url, fresh)
