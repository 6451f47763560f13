"""``pipeline --skip-unchanged`` on the demo with a PostgreSQL ledger (real processes)."""

from __future__ import annotations

from pathlib import Path

from tests.support.change_detection import check_skip_unchanged
from tests.support.executions import etlctl, write_config


def test_demo_second_identical_run_is_skipped(tmp_path: Path, postgres_url: str) -> None:
    assert etlctl("db", "upgrade", write_config(tmp_path, postgres_url)).returncode == 0
    check_skip_unchanged(tmp_path, postgres_url)
