"""The ledger's migrations on SQLite (PostgreSQL: tests/integration/postgres/test_ledger.py)."""

from __future__ import annotations

from pathlib import Path

from tests.support.ledger_cases import (
    check_models_match_migrations,
    check_upgrade_from_0001_keeps_history_and_records_step_rows,
)


def test_sqlite_ledger_upgrades_from_0001(tmp_path: Path) -> None:
    check_upgrade_from_0001_keeps_history_and_records_step_rows(
        f"sqlite:///{tmp_path / 'state.db'}"
    )


def test_sqlite_ledger_models_match_migrations(tmp_path: Path) -> None:
    check_models_match_migrations(f"sqlite:///{tmp_path / 'state.db'}")
