"""The warehouse fence of view transforms, shared by SQLite (unit) and PostgreSQL
(integration): each ``check_*`` takes the URL of an empty database.

As in `tests.support.fence_cases`: two runs of one view with fencing tokens 2 and 3
both claim it; the older one's `publish_view` must raise `FencedOutError` naming the
newer run and change nothing (the view's rows, its definition and the fence rows are
as before); the newer one publishes. The warehouse is real; only the ledger is the
in-memory `FakeLedger`.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from etl_framework.exceptions import ExitCode, FencedOutError
from etl_framework.identifiers import quote_table
from etl_framework.load.sql.fence import FENCE_TABLE, SqlFence
from etl_framework.transforms.sql import publish_view, view_statements
from etl_framework.window import Window
from tests.support.fence_cases import NEW_RUN, OLD_RUN, fence_rows
from tests.support.ledger import FakeLedger
from tests.support.strategy_cases import connector

VIEW = "v_orders"
SEED_RUN = "00000000-seed"


def fence(run_id: str, token: int) -> SqlFence:
    """A view run's fence: the whole view, whatever the run's window."""
    return SqlFence(VIEW, Window.unbounded(), token=token, run_id=run_id, transfer="v_job")


def publish(engine: sa.Engine, select: str, run_fence: SqlFence) -> None:
    statements = view_statements(engine.dialect, quote_table(engine.dialect, VIEW), select)
    publish_view(engine, statements, run_fence)


def source(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE src (id integer, label varchar(8))")
        conn.exec_driver_sql(
            "INSERT INTO src VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')"
        )


def view_rows(engine: sa.Engine) -> list[tuple[Any, ...]] | None:
    """The view's rows, None when there is no view."""
    with engine.connect() as conn:
        if VIEW not in sa.inspect(conn).get_view_names():
            return None
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {VIEW} ORDER BY 1")]


def _older_run_is_fenced_out(url: str, *, seeded: bool) -> None:
    ledger = FakeLedger()
    with connector(url) as c:
        engine = c.engine
        source(engine)
        if seeded:  # a first clean run (token 1) published the view
            first = fence(SEED_RUN, 1)
            first.claim(engine, ledger.handle(SEED_RUN))
            publish(engine, "SELECT id FROM src WHERE id < 3", first)
            ledger.end(SEED_RUN, succeeded=True)
        before = view_rows(engine)
        old, new = fence(OLD_RUN, 2), fence(NEW_RUN, 3)
        old.claim(engine, ledger.handle(OLD_RUN))
        new.claim(engine, ledger.handle(NEW_RUN))  # the newer lease took the view over
        fence_before = fence_rows(c)
        with pytest.raises(FencedOutError) as caught:
            publish(engine, "SELECT id, label FROM src WHERE id >= 3", old)
        assert caught.value.taken_over_by == NEW_RUN
        assert caught.value.exit_code == ExitCode.LEASE_HELD
        assert view_rows(engine) == before, "a fenced-out run replaced the view"
        assert fence_rows(c) == fence_before, "a fenced-out run changed the fence"
        # the newer run replaces it (other columns: drop + create on PostgreSQL too)
        publish(engine, "SELECT label, id FROM src WHERE id > 3", new)
        assert view_rows(engine) == [("d", 4), ("e", 5)]
        assert (NEW_RUN, True) in {(run, done) for _k, _t, run, done in fence_rows(c)}
        # and the older run cannot even claim again
        with pytest.raises(FencedOutError, match=NEW_RUN):
            fence(OLD_RUN, 2).claim(engine, ledger.handle(OLD_RUN))


def check_view_fence_older_run_replaces_nothing(url: str) -> None:
    _older_run_is_fenced_out(url, seeded=True)


def check_view_fence_refused_first_publish_creates_no_view(url: str) -> None:
    _older_run_is_fenced_out(url, seeded=False)


def check_view_fence_publish_without_claim(url: str) -> None:
    """A publish without a claim still checks the fence (and creates its table)."""
    ledger = FakeLedger()
    with connector(url) as c:
        source(c.engine)
        publish(c.engine, "SELECT id FROM src", fence(OLD_RUN, 2))
        assert fence_rows(c) == [("all", 2, OLD_RUN, True)]
        fence(NEW_RUN, 3).claim(c.engine, ledger.handle(NEW_RUN))
        with pytest.raises(FencedOutError, match=NEW_RUN):
            publish(c.engine, "SELECT label FROM src", fence(OLD_RUN, 2))
        assert view_rows(c.engine) == [(i,) for i in range(1, 6)]


def check_view_fence_token_zero_writes_no_fence(url: str) -> None:
    with connector(url) as c:
        source(c.engine)
        publish(c.engine, "SELECT id FROM src WHERE id = 2", fence("nofence1", 0))
        assert view_rows(c.engine) == [(2,)]
        with c.engine.connect() as conn:
            assert not sa.inspect(conn).has_table(FENCE_TABLE)
