"""The warehouse fence and staging ownership on BigQuery (emulator or a real project).

Two runs of one target with fencing tokens 2 and 3 both claim it; the older one's
publish transaction must abort on the fence check (``SELECT ERROR``), raise
`FencedOutError` naming the newer run, and change nothing. What the emulator cannot
express: two transactions racing on one table (BigQuery aborts the later commit on the
concurrent update; "never interleave" is covered on PostgreSQL), and MERGE inside a
transaction (so the newer run's fenced merge publish runs only on a real project; the
older run's refusal is checked here too, since the fence check aborts first).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from etl_framework.exceptions import ExitCode, FencedOutError, GuardError, JobError
from etl_framework.load.bigquery import (
    BigQueryMergeStrategy,
    BigQueryReplaceTableStrategy,
    BigQueryReplaceWindowStrategy,
    Partitioning,
)
from etl_framework.load.bigquery.base import BigQueryWriteStrategy
from etl_framework.load.bigquery.fence import FENCE_TABLE
from etl_framework.load.bigquery.staging import staging_table_name
from etl_framework.load.guards import GuardConfig
from etl_framework.window import Window
from tests.support.bigquery import (
    DAY1,
    DAY2,
    DAY3,
    MAPPING,
    BigQueryTarget,
    checksum,
    record,
    rows,
    staging_tables,
    unique,
)
from tests.support.ledger import FakeLedger

OLD_RUN, NEW_RUN = "run0old1", "run0new2"
DAY4 = DAY3 + dt.timedelta(days=1)


def build(
    bq: Any,
    table: str,
    kind: str,
    ledger: FakeLedger,
    run_id: str,
    token: int,
    window: Window | None = None,
    **kwargs: Any,
) -> BigQueryWriteStrategy:
    common: dict[str, Any] = {
        # these tests replace tables with fewer rows on purpose: no collapse guard
        "guards": GuardConfig(min_fraction=0),
        **kwargs,
        "run_id": run_id,
        "ledger": ledger.handle(run_id),
        "fence_token": token,
        "transfer": "events_job",
        "partitioning": Partitioning(column="event_date"),
    }
    if window is not None:
        common["window"] = window
    if kind == "truncate":
        return BigQueryReplaceTableStrategy(bq, table, MAPPING, **common)
    if kind == "merge":
        return BigQueryMergeStrategy(bq, table, MAPPING, **common)
    return BigQueryReplaceWindowStrategy(bq, table, MAPPING, window_column="event_date", **common)


def records(days: list[dt.date], version: int) -> list[dict[str, Any]]:
    return [
        record(n * 10 + k, d, name=f"v{version}-")
        for n, d in enumerate([DAY1, DAY2, DAY3])
        if d in days
        for k in range(2)
    ]


def write(strategy: BigQueryWriteStrategy, data: list[dict[str, Any]]) -> None:
    try:
        strategy.write(rows(data))
    finally:
        strategy.drop_staging()


def fence_rows(bq: Any, bq_target: BigQueryTarget, table: str) -> list[tuple[Any, ...]]:
    name = table.rsplit(".", 1)[1]
    result = bq.query(
        f"SELECT window_key, token, run_id, published_at IS NOT NULL AS published "
        f"FROM `{bq_target.project}.{bq_target.dataset}.{FENCE_TABLE}` "
        f"WHERE target = @t ORDER BY window_key",
        {"t": name},
    )
    return [(r["window_key"], r["token"], r["run_id"], r["published"]) for r in result]


def seed(bq: Any, table: str, ledger: FakeLedger) -> str:
    first = build(bq, table, "truncate", ledger, "run0seed", 1)
    first.claim()
    first.prepare()
    write(first, records([DAY1, DAY2, DAY3], 0))
    ledger.end("run0seed", succeeded=True)
    return checksum(bq, table)


OLD_NEW: dict[str, tuple[tuple[str, Window | None], tuple[str, Window | None]]] = {
    "truncate": (("truncate", None), ("truncate", None)),
    "window_overlapping": (("window", Window(DAY1, DAY3)), ("window", Window(DAY2, DAY4))),
    "merge": (("merge", Window(DAY1, DAY2)), ("merge", Window(DAY1, DAY2))),
    "truncate_over_window": (("window", Window(DAY2, DAY3)), ("truncate", None)),
}


@pytest.mark.parametrize("case", sorted(OLD_NEW))
def test_older_run_is_fenced_out(bq: Any, bq_target: BigQueryTarget, case: str) -> None:
    table = bq_target.table(unique("events"))
    ledger = FakeLedger()
    before = seed(bq, table, ledger)
    (old_kind, old_window), (new_kind, new_window) = OLD_NEW[case]
    old = build(bq, table, old_kind, ledger, OLD_RUN, 2, old_window)
    new = build(bq, table, new_kind, ledger, NEW_RUN, 3, new_window)
    old.claim()
    new.claim()
    fence_before = fence_rows(bq, bq_target, table)
    old.prepare()
    days = [d for d in (DAY1, DAY2, DAY3) if old_window is None or old_window.contains(d)]
    with pytest.raises(FencedOutError) as caught:
        write(old, records(days, 1))
    assert caught.value.taken_over_by == NEW_RUN
    assert caught.value.exit_code == ExitCode.LEASE_HELD
    assert "nothing was published" in str(caught.value)
    assert checksum(bq, table) == before, "a fenced-out run changed the target"
    assert fence_rows(bq, bq_target, table) == fence_before
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []
    if new_kind == "merge" and bq_target.emulator:
        # The emulator refuses MERGE inside a multi-statement transaction (real BigQuery
        # runs it): the newer run's fenced merge publish is checked on a real project.
        return
    new.prepare()
    days = [d for d in (DAY1, DAY2, DAY3) if new_window is None or new_window.contains(d)]
    write(new, records(days, 2))
    assert checksum(bq, table) != before
    with pytest.raises(FencedOutError, match=NEW_RUN):
        build(bq, table, old_kind, ledger, OLD_RUN, 2, old_window).claim()


def test_disjoint_windows_publish_side_by_side(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("events"))
    ledger = FakeLedger()
    seed(bq, table, ledger)
    old = build(bq, table, "window", ledger, OLD_RUN, 2, Window(DAY1, DAY2))
    new = build(bq, table, "window", ledger, NEW_RUN, 3, Window(DAY3, DAY4))
    old.claim()
    new.claim()
    new.prepare()
    write(new, records([DAY3], 2))
    old.prepare()
    write(old, records([DAY1], 1))  # older token, disjoint window: publishes
    names = {
        r["event_id"]: r["user_name"]
        for r in bq.query(f"SELECT event_id, user_name FROM `{table}`")
    }
    assert sorted(names.items()) == [(0, "v1-0"), (1, "v1-1"), (10, "v0-10"), (11, "v0-11"),
                                     (20, "v2-20"), (21, "v2-21")]  # fmt: skip
    assert [row[1:] for row in fence_rows(bq, bq_target, table)] == [
        (2, OLD_RUN, True),
        (3, NEW_RUN, True),
        (1, "run0seed", True),
    ]


def test_claim_reconciles_a_published_run(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("events"))
    ledger = FakeLedger()
    seed(bq, table, ledger)
    lost = build(bq, table, "truncate", ledger, OLD_RUN, 2)
    lost.claim()
    lost.prepare()
    write(lost, records([DAY1], 1))
    ledger.end(OLD_RUN)  # its ledger write failed after the publish
    assert build(bq, table, "truncate", ledger, NEW_RUN, 3).claim() == [OLD_RUN]
    assert build(bq, table, "truncate", ledger, "run0thr3", 4).claim() == []
    assert ledger.reconciled == [OLD_RUN]


def test_user_table_matching_the_staging_pattern_survives_every_cleanup(
    bq: Any, bq_target: BigQueryTarget
) -> None:
    table = bq_target.table(unique("events"))
    ledger = FakeLedger()
    target = bq.table_ref(table)
    lookalike = staging_table_name(target, Window.unbounded(), "abcd1234")
    bq.ensure_dataset(bq_target.project, bq_target.dataset)
    lookalike_ref = f"{bq_target.project}.{bq_target.dataset}.{lookalike}"
    bq_target.created.append(lookalike_ref)
    bq.query(f"CREATE TABLE `{lookalike_ref}` (precious INT64)")
    bq.query(f"INSERT INTO `{lookalike_ref}` (precious) VALUES (42)")

    def intact() -> None:
        assert [r["precious"] for r in bq.query(f"SELECT precious FROM `{lookalike_ref}`")] == [42]

    seed(bq, table, ledger)  # cleansing + cleanup after success
    intact()
    failing = build(bq, table, "truncate", ledger, "run0fail", 2)
    failing.claim()
    failing.drop_stale_staging()
    failing.prepare()
    with pytest.raises(GuardError):
        write(failing, [])  # min_rows refuses an empty truncate: cleanup after failure
    ledger.end("run0fail")
    intact()
    crashed = build(bq, table, "window", ledger, "run0dead", 3, Window(DAY1, DAY2))
    crashed.claim()
    crashed.prepare()
    crashed.load(rows(records([DAY1], 1)))
    crashed._stage()  # staged, then the process dies
    ledger.end("run0dead")
    nxt = build(bq, table, "truncate", ledger, "run0next", 4)
    nxt.claim()
    assert nxt.drop_stale_staging() == [crashed.staging.table]
    nxt.prepare()
    write(nxt, records([DAY1, DAY2], 2))
    intact()
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == [lookalike]
    # a run whose own staging name is taken by a user table refuses and leaves it
    colliding = build(bq, table, "truncate", ledger, "abcd1234", 5)
    colliding.prepare()
    with pytest.raises(JobError, match="already exists and was not created by this run"):
        write(colliding, records([DAY1], 3))
    intact()
