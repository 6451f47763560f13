"""``etlctl executions`` and ``etlctl db`` on a SQLite ledger, as real processes
(PostgreSQL: tests/integration/postgres/test_executions.py)."""

from __future__ import annotations

from pathlib import Path

from tests.support.executions import (
    check_db_commands,
    check_downgrade_keeps_steps,
    check_executions_bad_cases,
    check_executions_end_to_end,
    check_models_match,
    etlctl,
    write_config,
)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger' / 'state.db'}"


def test_executions_end_to_end(tmp_path: Path) -> None:
    check_executions_end_to_end(write_config(tmp_path, sqlite_url(tmp_path)), tmp_path / "m")


def test_executions_bad_cases(tmp_path: Path) -> None:
    check_executions_bad_cases(write_config(tmp_path, sqlite_url(tmp_path)), tmp_path / "m")


def test_db_migration_round_trip(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    check_db_commands(write_config(tmp_path, url), url)


def test_models_match_migrations(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert etlctl("db", "upgrade", write_config(tmp_path, url)).returncode == 0
    check_models_match(url)


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in (
        "init",
        "last-successful",
        "completed-at",
        "init-step",
        "compare",
        "complete-step",
        "complete",
    ):
        done = etlctl("executions", command, "--help")
        assert done.returncode == 0, done.stderr
        assert "--log-level" in done.stdout and f"executions {command}" in done.stdout


def test_log_level_debug_keeps_stdout_to_the_result(tmp_path: Path) -> None:
    config = write_config(tmp_path, sqlite_url(tmp_path))
    done = etlctl("executions", "init", "--log-level", "DEBUG", config)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 and "started" in done.stderr
    quiet = etlctl("executions", "--log-level", "error", "init", config)
    assert quiet.returncode == 0 and quiet.stderr == ""
    bad = etlctl("executions", "init", "--log-level", "LOUD", config)
    assert bad.returncode == 2 and bad.stdout == ""


def test_downgrade_below_fencing_keeps_run_steps(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    check_downgrade_keeps_steps(write_config(tmp_path, url), url)
