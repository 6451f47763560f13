"""Round trips a run pays before its first row: the ledger schema check and engine setup."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from etl_framework.db import make_engine
from etl_framework.state import RunStore

pytestmark = pytest.mark.postgres


def statements(engine: sa.Engine) -> list[str]:
    seen: list[str] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(str(statement).split()))

    return seen


def test_engines_skip_the_hstore_lookup(postgres_url: str) -> None:
    """The warehouse, ledger and liveness engines: no hstore type lookup on first connect."""
    store = RunStore(postgres_url)
    engines = [make_engine(postgres_url), store.engine, store.liveness._engine]  # type: ignore[attr-defined]
    for engine in engines:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        assert engine.dialect.use_native_hstore is False  # type: ignore[attr-defined]
    engines[0].dispose()
    store.close()


def test_a_current_ledger_is_checked_with_one_select(postgres_url: str) -> None:
    store = RunStore(postgres_url)
    store.upgrade()
    with store.engine.connect():
        pass  # the dialect's first-connect queries are not the check's
    seen = statements(store.engine)
    assert store.schema_is_current()
    assert seen == ["SELECT version_num FROM etl_alembic_version"]
    store.close()


def test_a_ledger_without_schema_is_not_current(postgres_url: str) -> None:
    store = RunStore(postgres_url)
    assert not store.schema_is_current()
    store.close()
