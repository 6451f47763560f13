"""``etlctl executions`` and ``etlctl db`` on a real PostgreSQL ledger, as processes."""

from __future__ import annotations

from pathlib import Path

from tests.support.executions import (
    check_db_commands,
    check_downgrade_keeps_steps,
    check_executions_bad_cases,
    check_executions_end_to_end,
    etlctl,
    refused,
    write_config,
)


def migrated(tmp_path: Path, url: str) -> Path:
    config = write_config(tmp_path, url)
    done = etlctl("db", "upgrade", config)
    assert done.returncode == 0, done.stderr
    return config


def test_executions_end_to_end(tmp_path: Path, postgres_url: str) -> None:
    check_executions_end_to_end(migrated(tmp_path, postgres_url), tmp_path / "m")


def test_executions_bad_cases(tmp_path: Path, postgres_url: str) -> None:
    check_executions_bad_cases(migrated(tmp_path, postgres_url), tmp_path / "m")


def test_executions_refuse_an_unmigrated_ledger(tmp_path: Path, postgres_url: str) -> None:
    config = write_config(tmp_path, postgres_url)
    assert "etlctl db upgrade" in refused("executions", "init", config, code=3)


def test_db_migration_round_trip(tmp_path: Path, postgres_url: str) -> None:
    check_db_commands(write_config(tmp_path, postgres_url), postgres_url)


def test_downgrade_below_fencing_keeps_run_steps(tmp_path: Path, postgres_url: str) -> None:
    check_downgrade_keeps_steps(write_config(tmp_path, postgres_url), postgres_url)
