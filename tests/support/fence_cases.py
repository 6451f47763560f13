"""Warehouse fence and staging ownership scenarios, shared by SQLite (unit) and
PostgreSQL (integration): each ``check_*`` takes the URL of an empty database.

Two runs of one target with fencing tokens 1 and 2 both claim it; the older one's
publish must raise `FencedOutError` naming the newer run and change nothing (the
target's rows and the fence rows are as before). The warehouse is real; only the
ledger is the in-memory `FakeLedger`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from etl_framework.connectors.sql import SqlConnector
from etl_framework.exceptions import ExitCode, FencedOutError, GuardError, JobError
from etl_framework.load.sql.base import WriteStrategy
from etl_framework.load.sql.fence import FENCE_TABLE
from etl_framework.load.sql.merge import MergeStrategy
from etl_framework.load.sql.replace_table import ReplaceTableStrategy
from etl_framework.load.sql.replace_window import ReplaceWindowStrategy
from etl_framework.load.sql.staging import staging_name
from etl_framework.window import Window
from tests.support.ledger import FakeLedger
from tests.support.strategy_cases import (
    FIRST_DAY,
    MAPPING,
    connector,
    record,
    simulate_crash,
    table_rows,
)

DAY = dt.timedelta(days=1)
OLD_RUN, NEW_RUN = "11111111-old", "22222222-new"


def day(n: int) -> dt.date:
    return FIRST_DAY + n * DAY


def window(first: int, days: int) -> Window:
    return Window(day(first), day(first + days))


def recs(days: range, version: int, per_day: int = 3) -> list[dict[str, Any]]:
    """``per_day`` records on each day (ids by day, so windows hold distinct ids)."""
    return [record(d * 10 + k, version, day(d)) for d in days for k in range(per_day)]


def build(
    c: SqlConnector,
    kind: str,
    ledger: FakeLedger,
    run_id: str,
    token: int,
    run_window: Window | None = None,
    **kwargs: Any,
) -> WriteStrategy:
    common: dict[str, Any] = {
        "run_id": run_id,
        "ledger": ledger.handle(run_id),
        "fence_token": token,
        "fence_window": run_window or Window.unbounded(),
        "transfer": "orders_job",
        **kwargs,
    }
    if kind == "replace_table":
        return ReplaceTableStrategy(c, "orders", MAPPING, **common)
    if kind == "merge":
        return MergeStrategy(c, "orders", MAPPING, **common)
    assert run_window is not None
    return ReplaceWindowStrategy(
        c, "orders", MAPPING, window=run_window, window_column="day", **common
    )


def fence_rows(c: SqlConnector) -> list[tuple[Any, ...]]:
    with c.engine.connect() as conn:
        if not sa.inspect(conn).has_table(FENCE_TABLE):
            return []
        return [
            tuple(r)
            for r in conn.exec_driver_sql(
                f"SELECT window_key, token, run_id, published_at IS NOT NULL FROM {FENCE_TABLE} "
                "ORDER BY window_key"
            ).all()
        ]


def seed(c: SqlConnector, ledger: FakeLedger) -> list[tuple[Any, ...]]:
    """A first clean run (token 1) of ten days: the target exists and holds rows."""
    strategy = build(c, "replace_table", ledger, "00000000-seed", 1)
    strategy.claim()
    try:
        strategy.write(MAPPING.rows(recs(range(10), 0)))
    finally:
        strategy.drop_staging()
    ledger.end("00000000-seed", succeeded=True)
    return table_rows(c.engine)


def refused(strategy: WriteStrategy, rows: list[dict[str, Any]]) -> FencedOutError:
    """The strategy's write raises FencedOutError naming the newer run."""
    try:
        with pytest.raises(FencedOutError) as caught:
            strategy.write(MAPPING.rows(rows))
    finally:
        strategy.drop_staging()
    error = caught.value
    assert error.taken_over_by == NEW_RUN
    assert error.exit_code == ExitCode.LEASE_HELD
    assert f"run {NEW_RUN} took it over; nothing was published" in str(error)
    return error


def _data(w: Window | None, version: int) -> list[dict[str, Any]]:
    """Records of the window (of all ten days for an unbounded one)."""
    if w is None or w.is_unbounded:
        return recs(range(10), version)
    assert w.start is not None and w.end is not None
    first = (w.start - FIRST_DAY).days
    return recs(range(first, first + (w.end - w.start).days), version)


Run = tuple[str, Window | None]
"""(strategy kind, run window: None for a truncate run)."""


def _older_run_is_fenced_out(url: str, old_run: Run, new_run: Run, **kwargs: Any) -> None:
    ledger = FakeLedger()
    with connector(url) as c:
        before = seed(c, ledger)
        old = build(c, old_run[0], ledger, OLD_RUN, 2, old_run[1], **kwargs)
        new = build(c, new_run[0], ledger, NEW_RUN, 3, new_run[1], **kwargs)
        old.claim()
        new.claim()  # the newer lease took the target over
        fence_before = fence_rows(c)
        refused(old, _data(old_run[1], 1))
        assert table_rows(c.engine) == before, "a fenced-out run changed the target"
        assert fence_rows(c) == fence_before, "a fenced-out run changed the fence"
        assert ledger.open_records() == []  # its staging was dropped (it was its own)
        # the newer run publishes normally
        try:
            new.write(MAPPING.rows(_data(new_run[1], 2)))
        finally:
            new.drop_staging()
        assert table_rows(c.engine) != before
        assert (NEW_RUN, True) in {(run, done) for _k, _t, run, done in fence_rows(c)}
        # and the older run cannot even claim again
        again = build(c, old_run[0], ledger, OLD_RUN, 2, old_run[1], **kwargs)
        with pytest.raises(FencedOutError, match=NEW_RUN):
            again.claim()


# --- the scenarios --------------------------------------------------------------


def check_fence_replace_table_staged(url: str) -> None:
    _older_run_is_fenced_out(url, ("replace_table", None), ("replace_table", None))


def check_fence_replace_table_direct(url: str) -> None:
    _older_run_is_fenced_out(url, ("replace_table", None), ("replace_table", None), direct=True)


def check_fence_first_load(url: str) -> None:
    """A missing target: the direct first load is refused and creates nothing."""
    ledger = FakeLedger()
    with connector(url) as c:
        old = build(c, "replace_table", ledger, OLD_RUN, 1)
        new = build(c, "replace_table", ledger, NEW_RUN, 2)
        old.claim()
        new.claim()
        refused(old, recs(range(3), 1))
        with c.engine.connect() as conn:
            assert not sa.inspect(conn).has_table("orders"), "the refused first load created it"
        assert [(key, token, run) for key, token, run, _ in fence_rows(c)] == [("all", 2, NEW_RUN)]


def check_fence_replace_window_overlapping(url: str) -> None:
    _older_run_is_fenced_out(
        url, ("replace_window", window(1, 3)), ("replace_window", window(2, 3))
    )


def check_fence_replace_window_direct(url: str) -> None:
    _older_run_is_fenced_out(
        url, ("replace_window", window(1, 3)), ("replace_window", window(1, 3)), direct=True
    )


def check_fence_merge(url: str) -> None:
    _older_run_is_fenced_out(url, ("merge", window(1, 2)), ("merge", window(1, 2)))


def check_fence_truncate_fences_out_every_window(url: str) -> None:
    """A newer truncate (unbounded) claim fences out an older window's publish."""
    _older_run_is_fenced_out(url, ("replace_window", window(3, 1)), ("replace_table", None))


def check_fence_disjoint_windows_publish_side_by_side(url: str) -> None:
    """Non-overlapping delta windows never fence each other, whatever their tokens."""
    ledger = FakeLedger()
    with connector(url) as c:
        seed(c, ledger)
        old = build(c, "replace_window", ledger, OLD_RUN, 2, window(1, 2))
        new = build(c, "replace_window", ledger, NEW_RUN, 3, window(5, 2))
        old.claim()
        new.claim()
        for strategy, w, version in ((new, window(5, 2), 2), (old, window(1, 2), 1)):
            try:
                strategy.write(MAPPING.rows(_data(w, version)))  # the older one last
            finally:
                strategy.drop_staging()
        expected = {r[0]: 0 for r in table_rows(c.engine)}
        expected.update({r["id"]: 1 for r in _data(window(1, 2), 1)})
        expected.update({r["id"]: 2 for r in _data(window(5, 2), 2)})
        names = {r[0]: r[3] for r in table_rows(c.engine)}
        assert {i: int(n.rsplit("-v", 1)[1]) for i, n in names.items()} == expected
        published = {key: (token, run, done) for key, token, run, done in fence_rows(c)}
        assert published["20240102_20240104"] == (2, OLD_RUN, True)
        assert published["20240106_20240108"] == (3, NEW_RUN, True)


def check_fence_claim_refuses_at_once(url: str) -> None:
    ledger = FakeLedger()
    with connector(url) as c:
        seed(c, ledger)
        build(c, "replace_window", ledger, NEW_RUN, 5, window(0, 10)).claim()
        late = build(c, "replace_window", ledger, OLD_RUN, 4, window(2, 1))
        with pytest.raises(FencedOutError) as caught:
            late.claim()
        assert caught.value.taken_over_by == NEW_RUN
        assert "fencing token 5" in str(caught.value)


def check_fence_reconciles_published_runs(url: str) -> None:
    """A run whose ledger write failed after its publish is recorded as succeeded by the
    next claim (the fence row names it as the publisher), once."""
    ledger = FakeLedger()
    with connector(url) as c:
        seed(c, ledger)  # succeeded in the ledger: nothing to reconcile
        lost = build(c, "replace_table", ledger, OLD_RUN, 2)
        lost.claim()
        try:
            lost.write(MAPPING.rows(recs(range(10), 1)))
        finally:
            lost.drop_staging()
        ledger.end(OLD_RUN)  # finish_run never reached the ledger
        assert OLD_RUN not in ledger.succeeded
        nxt = build(c, "replace_table", ledger, NEW_RUN, 3)
        assert nxt.claim() == [OLD_RUN]
        assert ledger.reconciled == [OLD_RUN]
        assert build(c, "replace_table", ledger, "33333333-third", 4).claim() == []
        assert ledger.reconciled == [OLD_RUN]


def check_fence_token_zero_writes_no_fence(url: str) -> None:
    with connector(url) as c:
        strategy = ReplaceTableStrategy(c, "orders", MAPPING, run_id="nofence1")
        assert strategy.claim() == []
        try:
            strategy.write(MAPPING.rows(recs(range(2), 0)))
        finally:
            strategy.drop_staging()
        with c.engine.connect() as conn:
            assert not sa.inspect(conn).has_table(FENCE_TABLE)


# --- staging ownership ------------------------------------------------------------

LOOKALIKE = "_stg_orders_abcd1234"


def _make_lookalike(c: SqlConnector, name: str = LOOKALIKE) -> None:
    with c.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE TABLE "{name}" (precious integer)')
        conn.exec_driver_sql(f'INSERT INTO "{name}" VALUES (42)')


def _lookalike_intact(c: SqlConnector, name: str = LOOKALIKE) -> None:
    with c.engine.connect() as conn:
        assert conn.exec_driver_sql(f'SELECT precious FROM "{name}"').all() == [(42,)]


def check_user_table_matching_the_staging_pattern_survives_every_cleanup(url: str) -> None:
    ledger = FakeLedger()
    with connector(url) as c:
        _make_lookalike(c)
        # cleansing and cleanup after success
        seed(c, ledger)
        _lookalike_intact(c)
        # cleanup after a failure (a guard refuses the publish)
        failing = build(c, "replace_table", ledger, "44444444-fail", 2)
        failing.claim()
        failing.drop_stale_staging()
        with pytest.raises(GuardError):
            try:
                failing.write(MAPPING.rows([]))
            finally:
                failing.drop_staging()
        ledger.end("44444444-fail")
        _lookalike_intact(c)
        # a crashed run, then the next run's cleansing
        crashed = build(c, "replace_table", ledger, "55555555-crash", 3)
        crashed.claim()
        crashed.prepare()
        crashed.load(MAPPING.rows(recs(range(2), 1)))
        simulate_crash(crashed)
        ledger.end("55555555-crash")
        nxt = build(c, "replace_table", ledger, "66666666-next", 4)
        nxt.claim()
        assert nxt.drop_stale_staging() == [crashed.staging]
        try:
            nxt.write(MAPPING.rows(recs(range(10), 2)))
        finally:
            nxt.drop_staging()
        _lookalike_intact(c)
        # without a ledger (NullLedger): cleansing drops nothing at all
        assert ReplaceTableStrategy(c, "orders", MAPPING, run_id="x").drop_stale_staging() == []
        _lookalike_intact(c)


def check_user_table_with_the_runs_own_staging_name_is_left_alone(url: str) -> None:
    """Even a table named exactly like this run's staging is not ours: prepare refuses,
    cleanup leaves it, and the ledger does not hand it to a later run."""
    ledger = FakeLedger()
    run_id = "abcd1234-collide"
    assert staging_name("orders", run_id) == LOOKALIKE
    with connector(url) as c:
        seed(c, ledger)
        _make_lookalike(c)
        strategy = build(c, "replace_table", ledger, run_id, 2)
        strategy.claim()
        with pytest.raises(JobError, match="already exists and was not created by this run"):
            try:
                strategy.write(MAPPING.rows(recs(range(10), 1)))
            finally:
                strategy.drop_staging()
        ledger.end(run_id)
        _lookalike_intact(c)
        later = build(c, "replace_table", ledger, "77777777-later", 3)
        assert later.drop_stale_staging() == []
        _lookalike_intact(c)


def check_fence_publish_without_claim(url: str) -> None:
    """A strategy used without `claim` (a job of its own) is still fenced: the publish
    creates the fence table if needed and checks it in the same transaction."""
    ledger = FakeLedger()
    with connector(url) as c:
        first = build(c, "replace_table", ledger, OLD_RUN, 2)
        try:
            first.write(MAPPING.rows(recs(range(3), 1)))  # first load, no fence table yet
        finally:
            first.drop_staging()
        assert [(k, t, r, done) for k, t, r, done in fence_rows(c)] == [("all", 2, OLD_RUN, True)]
        before = table_rows(c.engine)
        build(c, "replace_table", ledger, NEW_RUN, 3).claim()
        refused(build(c, "replace_table", ledger, OLD_RUN, 2), recs(range(10), 4))
        assert table_rows(c.engine) == before
