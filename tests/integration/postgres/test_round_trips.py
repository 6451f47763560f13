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


# A one-day delta of a TableTransferJob (staging, guards, fence, ledger with leases), in
# steady state (the fence table and the target exist, the previous delta is
# reconciled from the fence): every statement sent through SQLAlchemy, every new
# connection and every ping, by phase:
#   preflight target check 1, ledger schema check 1, liveness settings + lock 1
#   lease: lock+clock, leases, token read, token update, lease insert, run insert 6
#   fence claim: has_table (once per engine), unreconciled, ledger lock+clock and run
#     read (reconcile), lock, newer claims, unreconciled, mark reconciled, upsert 9
#   staging: stale staging 2, target description 1 (one catalog query), staging lock 1,
#     record 2, DDL + column types 2
#   publish: lock, newer claims, upsert, window guard, not-null guard, delete, insert 7
#   cleanup: drop 1, record 2, staging unlock 1; finish: lock+clock, run, steps (one
#     INSERT), lease 4; liveness unlock 1
# COPY, BEGIN and COMMIT are not cursor statements: not counted. Issue 16 took out 12
# (lock and clock in one statement, steps in one INSERT, the fence table looked up
# once, the liveness settings in one statement) and the pre-ping of every checkout;
# then 5 more (the target's case check, existence, columns, primary key and unique
# keys and referencing foreign keys in one catalog query instead of six).
DELTA_STATEMENTS = 44
DELTA_CONNECTIONS = 5  # ledger 2, liveness, warehouse, the preflight target check


def test_a_one_day_delta_sends_a_known_number_of_statements(
    postgres_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etl_framework import db
    from etl_framework.runner import run_transfer
    from tests.support.round_trips import delta_config

    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # count pings of busy pools
    store = RunStore(postgres_url)
    store.upgrade()
    store.close()
    config = delta_config(postgres_url, tmp_path)
    assert run_transfer("slow_orders", "20240130", "truncate", config).exit_code == 0
    assert run_transfer("slow_orders", "20240106", "delta", config).exit_code == 0

    seen: list[str] = []
    connects: list[int] = []
    pings: list[int] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(str(statement).split())[:120])

    def connected(*_args: Any) -> None:
        connects.append(1)

    ping = type(sa.create_engine(postgres_url).dialect).do_ping

    def counted_ping(self: Any, dbapi_connection: Any) -> bool:
        pings.append(1)
        return bool(ping(self, dbapi_connection))

    monkeypatch.setattr(type(sa.create_engine(postgres_url).dialect), "do_ping", counted_ping)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    sa.event.listen(sa.pool.Pool, "connect", connected)
    try:
        summary = run_transfer("slow_orders", "20240106", "delta", config)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
        sa.event.remove(sa.pool.Pool, "connect", connected)
    assert summary.exit_code == 0 and summary.rows_written > 0
    assert len(seen) == DELTA_STATEMENTS, "\n".join(seen)
    assert len(connects) == DELTA_CONNECTIONS
    assert pings == []  # no pre-ping of a connection checked in a moment ago


def test_a_connection_idle_past_the_threshold_is_pinged_and_replaced_when_dead(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pre-ping on every checkout, but a pooled connection that sat idle is still
    checked: one the server dropped meanwhile is replaced, not handed to the run."""
    from etl_framework import db

    for engine in (make_engine(postgres_url), RunStore(postgres_url).engine):
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        killer = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
        with killer.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar()
        killer.dispose()
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        with engine.connect() as conn:
            second = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with killer.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": first})
        killer.dispose()
        with pytest.raises(sa.exc.DBAPIError), engine.connect() as conn:  # not pinged
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
