"""A ledger migration is ONE transaction of the ledger engine (on SQLite: one BEGIN
IMMEDIATE), so a second process migrating at once waits, then finds nothing to do.

alembic on its own commits each SQLite migration separately after reading the revision
once: between two of them another process could apply the next one first, and this one
then failed on "duplicate column name" (tests/integration/test_ledger_migration_race.py
runs the processes).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from etl_framework.state.store import RunStore


def _transactions(store: RunStore) -> list[str]:
    seen: list[str] = []
    event.listen(store.engine, "begin", lambda conn: seen.append("begin"))
    event.listen(store.engine, "commit", lambda conn: seen.append("commit"))
    event.listen(store.engine, "rollback", lambda conn: seen.append("rollback"))
    return seen


def test_upgrading_a_new_ledger_is_one_transaction(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    seen = _transactions(store)
    store.upgrade()
    assert seen == ["begin", "commit"]
    assert store.schema_is_current()
    store.close()


def test_downgrade_and_upgrade_are_one_transaction_each(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.upgrade()
    seen = _transactions(store)
    store.migrate("downgrade", "base")
    assert seen == ["begin", "commit"]
    assert not store.schema_is_current()
    seen.clear()
    store.upgrade()
    assert seen == ["begin", "commit"]
    assert store.schema_is_current()
    store.close()
