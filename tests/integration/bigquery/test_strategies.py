"""BigQuery write strategies end to end with the real client (emulator or real project)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from etl_framework.connectors.bigquery import BigQueryJobError
from etl_framework.context import RunCounters
from etl_framework.exceptions import GuardError, SchemaMismatchError
from etl_framework.load.bigquery import (
    BigQueryMergeStrategy,
    BigQueryReplaceTableStrategy,
    BigQueryReplaceWindowStrategy,
    Partitioning,
)
from etl_framework.load.bigquery.staging import staging_table_name
from etl_framework.load.guards import GuardConfig
from etl_framework.mapping import FieldMapping
from etl_framework.window import Window
from tests.support.bigquery import (
    DAY1,
    DAY2,
    DAY3,
    MAPPING,
    BigQueryTarget,
    checksum,
    expected_rows,
    record,
    rows,
    staging_tables,
    table_rows,
    unique,
)
from tests.support.ledger import FakeLedger

PARTITIONING = Partitioning(column="event_date")


def base_records() -> list[dict[str, Any]]:
    return [record(i, day) for i, day in enumerate([DAY1, DAY1, DAY2, DAY2, DAY3, DAY3], start=1)]


def truncate(
    bq: Any, table: str, records: list[dict[str, Any]], run_id: str = "run00001", **kwargs: Any
) -> None:
    strategy = BigQueryReplaceTableStrategy(
        bq,
        table,
        MAPPING,
        run_id=run_id,
        partitioning=PARTITIONING,
        clustering=("event_id",),
        **kwargs,
    )
    try:
        strategy.prepare()
        strategy.load(rows(records))
        strategy.publish()
    finally:
        strategy.drop_staging()


def replace_window(
    bq: Any,
    table: str,
    records: list[dict[str, Any]],
    window: Window,
    run_id: str = "run00002",
    cls: type[BigQueryReplaceWindowStrategy] = (BigQueryReplaceWindowStrategy),
    **kwargs: Any,
) -> None:
    strategy = cls(
        bq,
        table,
        MAPPING,
        run_id=run_id,
        window=window,
        window_column="event_date",
        partitioning=PARTITIONING,
        **kwargs,
    )
    try:
        strategy.prepare()
        strategy.load(rows(records))
        strategy.publish()
    finally:
        strategy.drop_staging()


def test_truncate_end_to_end_rerun_and_metadata_kept(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("events"))
    counters = RunCounters()
    truncate(
        bq,
        table,
        base_records(),
        counters=counters,
        description="events by day",
        column_descriptions={"event_id": "the id"},
    )
    assert table_rows(bq, table) == expected_rows(base_records())
    created = bq.client.get_table(table)
    assert created.time_partitioning.field == "event_date"
    assert created.time_partitioning.type_ == "DAY"
    assert created.clustering_fields == ["event_id"]
    assert created.description == "events by day"
    # Someone documents the table; a truncate must keep that.
    created.description = "curated description"
    schema = list(created.schema)
    schema[2] = schema[2].__class__.from_api_repr({**schema[2].to_api_repr(), "description": "who"})
    created.schema = schema
    bq.client.update_table(created, ["description", "schema"])

    first = checksum(bq, table)
    truncate(bq, table, base_records(), run_id="run00003")
    assert checksum(bq, table) == first
    smaller = base_records()[:2]  # a third: below the default min_fraction 0.5, allowed here
    truncate(bq, table, smaller, run_id="run00004", guards=GuardConfig(min_fraction=0.3))
    assert table_rows(bq, table) == expected_rows(smaller)
    after = bq.client.get_table(table)
    assert after.description == "curated description"
    assert {f.name: f.description for f in after.schema}["user_name"] == "who"
    assert {f.name: f.description for f in after.schema}["event_id"] == "the id"
    assert after.time_partitioning.field == "event_date"
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []
    assert counters.extra["bq_jobs"] >= 1
    assert counters.extra["bq_load_jobs"] == 3  # three truncates on this connector
    # the emulator reports no slot time: the counter is left out, not 0
    reported = ("bq_bytes_processed", "bq_bytes_billed", "bq_slot_ms")
    for name in reported[:2] if bq_target.emulator else reported:
        assert name in counters.extra
    assert ("bq_slot_ms" in counters.extra) is not bq_target.emulator


def test_parquet_files_of_every_type_but_json(bq: Any, bq_target: BigQueryTarget) -> None:
    """Parquet load files (JSON columns force NDJSON): truncate, then a window."""
    from etl_framework.mapping import FieldMapping

    mapping = FieldMapping(tuple(f for f in MAPPING.fields if f.target_column != "payload"))
    table = bq_target.table(unique("events"))
    records = base_records()

    def run(strategy: Any, data: list[dict[str, Any]]) -> None:
        assert strategy.file_format == "parquet"
        try:
            strategy.write(list(mapping.rows(data)))
        finally:
            strategy.drop_staging()

    run(
        BigQueryReplaceTableStrategy(
            bq, table, mapping, run_id="runpq001", partitioning=PARTITIONING
        ),
        records,
    )
    run(
        BigQueryReplaceWindowStrategy(
            bq,
            table,
            mapping,
            run_id="runpq002",
            window=Window(DAY3, DAY3 + dt.timedelta(days=1)),
            window_column="event_date",
        ),
        [record(70, DAY3)],
    )
    got = table_rows(bq, table, columns=mapping.columns)
    want = [
        {k: v for k, v in r.items() if k != "payload"}
        for r in expected_rows([*records[:4], record(70, DAY3)])
    ]
    assert got == want


def test_delta_window_replaces_only_its_partitions(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("events"))
    truncate(bq, table, base_records())
    outside = "event_date != DATE '2024-01-02'"
    before_outside = checksum(bq, table, outside)
    new_day2 = [record(10, DAY2, name="new"), record(11, DAY2, name="new", amount="7.25")]
    counters = RunCounters()
    replace_window(bq, table, new_day2, Window(DAY2, DAY3), counters=counters)
    assert checksum(bq, table, outside) == before_outside
    assert table_rows(bq, table, "event_date = DATE '2024-01-02'") == expected_rows(new_day2)
    once = checksum(bq, table)
    replace_window(bq, table, new_day2, Window(DAY2, DAY3), run_id="run00005")
    assert checksum(bq, table) == once
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []
    assert counters.extra["bq_jobs"] >= 3  # staging load, window guard, publish


def test_delta_window_of_several_days_and_empty_window(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("events"))
    truncate(bq, table, base_records())
    replace_window(bq, table, [record(20, DAY2)], Window(DAY1, DAY3))
    assert [r["event_id"] for r in table_rows(bq, table)] == [5, 6, 20]
    replace_window(bq, table, [], Window(DAY3, DAY3 + dt.timedelta(days=1)))
    assert [r["event_id"] for r in table_rows(bq, table)] == [20]


def test_delta_rows_outside_window_are_refused(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("events"))
    truncate(bq, table, base_records())
    before = checksum(bq, table)
    with pytest.raises(GuardError, match="outside the window"):
        replace_window(bq, table, [record(30, DAY2), record(31, DAY3)], Window(DAY2, DAY3))
    assert checksum(bq, table) == before
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []


class _FailingWindowStrategy(BigQueryReplaceWindowStrategy):
    """Fails between the DELETE and the INSERT of the publish transaction."""

    def publish_statement(self) -> str:
        return (
            super()
            .publish_statement()
            .replace("INSERT INTO", "SELECT ERROR('injected failure');\nINSERT INTO", 1)
        )


def test_failing_publish_statement_leaves_target_untouched(
    bq: Any, bq_target: BigQueryTarget
) -> None:
    table = bq_target.table(unique("events"))
    truncate(bq, table, base_records())
    before = checksum(bq, table)
    with pytest.raises(BigQueryJobError) as caught:
        replace_window(
            bq, table, [record(40, DAY2)], Window(DAY2, DAY3), cls=_FailingWindowStrategy
        )
    assert "injected failure" in str(caught.value)
    assert "DELETE FROM" in str(caught.value)  # the failing statement is shown
    assert caught.value.statement is not None
    assert checksum(bq, table) == before
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []


def test_merge_upserts_on_keys_and_rerun_is_stable(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("events"))
    truncate(bq, table, base_records())
    changes = [record(2, DAY1, name="changed", amount="9.99"), record(50, DAY3, name="added")]

    def merge(run_id: str) -> None:
        strategy = BigQueryMergeStrategy(bq, table, MAPPING, run_id=run_id)
        try:
            strategy.write(rows(changes))
        finally:
            strategy.drop_staging()

    merge("run00006")
    expected = {r["id"]: r for r in base_records()}
    expected.update({r["id"]: r for r in changes})
    assert table_rows(bq, table) == expected_rows(list(expected.values()))
    once = checksum(bq, table)
    merge("run00007")
    assert checksum(bq, table) == once
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []


def test_merge_refuses_duplicate_keys(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("events"))
    truncate(bq, table, base_records())
    before = checksum(bq, table)
    strategy = BigQueryMergeStrategy(bq, table, MAPPING, run_id="run00008")
    with pytest.raises(GuardError, match="more than once"):
        try:
            strategy.write(rows([record(1, DAY1), record(1, DAY2)]))
        finally:
            strategy.drop_staging()
    assert checksum(bq, table) == before


def test_merge_refuses_null_keys_and_a_rerun_changes_nothing(
    bq: Any, bq_target: BigQueryTarget
) -> None:
    """NULL = NULL never matches in a MERGE: such rows would be inserted by every run."""
    mapping = FieldMapping.from_tuples([("k", "k", "text"), ("v", "v", "bigint")])
    table = bq_target.table(unique("keyed"))

    def merge(run_id: str, data: list[tuple[Any, ...]]) -> None:
        strategy = BigQueryMergeStrategy(bq, table, mapping, run_id=run_id, key_columns=["k"])
        try:
            strategy.write(data)
        finally:
            strategy.drop_staging()

    def content() -> list[tuple[Any, Any]]:
        return sorted((r["k"], r["v"]) for r in bq.query(f"SELECT k, v FROM `{table}`"))

    merge("run00017", [("a", 1)])
    for run_id in ("run00018", "run00019"):
        with pytest.raises(GuardError, match=r"1 of 2 staged rows have a NULL in the key \(k\)"):
            merge(run_id, [("a", 5), (None, 2)])
        assert content() == [("a", 1)]
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []
    # BigQuery enforces no unique key, so the staged keys are checked even with a
    # declared key; unique_keys: false leaves duplicates to BigQuery's MERGE, which
    # inserts both rows of a new key
    merge("run00020", [("b", 1)])
    strategy = BigQueryMergeStrategy(
        bq,
        table,
        mapping,
        run_id="run00021",
        key_columns=["k"],
        guards=GuardConfig(unique_keys=False),
    )
    try:
        strategy.write([("c", 1), ("c", 2)])
    finally:
        strategy.drop_staging()
    assert content() == [("a", 1), ("b", 1), ("c", 1), ("c", 2)]


def test_truncate_guard_defaults_are_the_sql_ones(bq: Any, bq_target: BigQueryTarget) -> None:
    """One GuardConfig, one set of defaults: a truncate refuses an empty source
    (min_rows 1) and a collapse below half the table (min_fraction 0.5) unless the
    transfer allows it; delta strategies have neither default."""
    table = bq_target.table(unique("events"))
    records = [record(i, [DAY1, DAY2, DAY3][i % 3]) for i in range(1, 11)]
    truncate(bq, table, records)
    before = checksum(bq, table)
    for run_id, data, message in [
        ("run00030", [], "guard 'min_rows' refused to publish: 0 rows loaded, at least 1"),
        (
            "run00031",
            records[:4],
            "guard 'min_fraction' refused to publish: 4 rows loaded would replace 10 rows",
        ),
    ]:
        with pytest.raises(GuardError, match=message) as info:
            truncate(bq, table, data, run_id=run_id)
        assert info.value.exit_code == 1
        assert checksum(bq, table) == before
    # exactly half passes; the override lets a deliberate shrink through
    truncate(bq, table, records[:5], run_id="run00032")
    assert len(table_rows(bq, table)) == 5
    truncate(bq, table, records[:1], run_id="run00033", guards=GuardConfig(min_fraction=0))
    assert len(table_rows(bq, table)) == 1
    truncate(bq, table, [], run_id="run00034", guards=GuardConfig(min_rows=0, min_fraction=0))
    assert table_rows(bq, table) == []
    # all-NULL columns are refused like on SQL (rows loaded through Python)
    truncate(bq, table, records, run_id="run00035")
    nameless = [dict(r, user=None) for r in records]
    with pytest.raises(GuardError, match=r"column\(s\) user_name are NULL in all 10 loaded rows"):
        truncate(bq, table, nameless, run_id="run00036")
    truncate(
        bq, table, nameless, run_id="run00037", guards=GuardConfig(all_null_allowed=("user_name",))
    )
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []


def test_delta_guards_min_fraction_of_the_window(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("events"))
    records = [record(i, [DAY1, DAY2][i % 2]) for i in range(1, 11)]
    truncate(bq, table, records)
    before = checksum(bq, table)
    window = Window(DAY1, DAY2)  # DAY1: the 5 odd ids
    fewer = [record(1, DAY1)]
    # no default for a delta: one row may replace a window of five
    replace_window(bq, table, fewer, window, run_id="run00040")
    assert len(table_rows(bq, table)) == 6
    truncate(bq, table, records, run_id="run00041")
    with pytest.raises(GuardError, match=r"1 rows loaded would replace 5 rows of window"):
        replace_window(
            bq, table, fewer, window, run_id="run00042", guards=GuardConfig(min_fraction=0.5)
        )
    assert checksum(bq, table) == before
    with pytest.raises(GuardError, match="min_rows"):
        replace_window(bq, table, [], window, run_id="run00043", guards=GuardConfig(min_rows=1))
    assert checksum(bq, table) == before
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []


def test_same_table_name_in_two_datasets_keeps_each_staging(
    bq_target: BigQueryTarget, gcs_bucket: str
) -> None:
    """Targets d1.events and d2.events share a staging dataset and bucket: the cleansing
    of one never drops the other's live staging table or staged file."""
    from etl_framework.connections import build_connector
    from etl_framework.gcp.storage import storage_client

    if not bq_target.emulator:
        pytest.skip("needs a second dataset and the GCS emulator")
    config = {
        **bq_target.connection,
        "staging_dataset": bq_target.dataset,
        "staging_bucket": f"gs://{gcs_bucket}/stage",
    }
    other_dataset = f"{bq_target.dataset}_b"
    window = Window(DAY1, DAY2)
    ledger = FakeLedger()
    with build_connector("warehouse", config) as staged_bq:
        live, mine = (
            BigQueryReplaceWindowStrategy(
                staged_bq,
                f"{bq_target.project}.{dataset}.events",
                MAPPING,
                run_id=run_id,
                window=window,
                window_column="event_date",
                ledger=ledger.handle(run_id),
            )
            for dataset, run_id in ((other_dataset, "runlive2"), (bq_target.dataset, "runmine1"))
        )
        live.prepare()
        live.load(rows([record(1, DAY1)]))
        live._stage()  # loading: staging table and staged file exist, not yet published
        assert live.staging.table != staging_table_name(mine.target, window, "runlive2")
        staged_files = [b.name for b in storage_client().list_blobs(gcs_bucket)]
        assert len(staged_files) == 1
        assert staged_files[0].startswith(f"stage/{live.staging.table}/")

        # the live run of the other target is not among mine's stale staging
        assert mine.drop_stale_staging() == []
        assert staging_tables(staged_bq, bq_target.project, bq_target.dataset) == [
            live.staging.table
        ]
        assert [b.name for b in storage_client().list_blobs(gcs_bucket)] == staged_files
        mine.prepare()
        mine.load(rows([record(2, DAY1)]))
        mine.publish()
        mine.drop_staging()
        live.publish()
        live.drop_staging()
        assert [r["event_id"] for r in table_rows(staged_bq, str(live.target))] == [1]
        assert [r["event_id"] for r in table_rows(staged_bq, str(mine.target))] == [2]
        assert staging_tables(staged_bq, bq_target.project, bq_target.dataset) == []
        assert list(storage_client().list_blobs(gcs_bucket)) == []


def test_failing_load_from_gcs_leaves_target_untouched(
    bq: Any, bq_target: BigQueryTarget, gcs_bucket: str
) -> None:
    from etl_framework.gcp.storage import storage_client

    if not bq_target.emulator:
        pytest.skip("reads gs:// files of the GCS emulator")
    table = bq_target.table(unique("events"))
    truncate(bq, table, base_records())
    before = checksum(bq, table)
    bucket = storage_client().bucket(gcs_bucket)
    bucket.blob("bad/part-0.json").upload_from_string(
        b'{"event_id": 1, "event_date": "2024-01-01"}\n{"event_id": "not a number"\n'
    )
    for strategy in (
        BigQueryReplaceTableStrategy(bq, table, MAPPING, run_id="run00009"),
        BigQueryReplaceWindowStrategy(
            bq,
            table,
            MAPPING,
            run_id="run00010",
            window=Window(DAY1, DAY2),
            window_column="event_date",
        ),
    ):
        strategy.prepare()
        strategy.load_uris([f"gs://{gcs_bucket}/bad/part-0.json"])
        with pytest.raises(BigQueryJobError, match="load of gs://"):
            strategy.publish()
        strategy.drop_staging()
        assert checksum(bq, table) == before
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []


def test_truncate_from_gcs_files_checks_min_rows_before_touching_the_target(
    bq: Any, bq_target: BigQueryTarget, gcs_bucket: str
) -> None:
    from etl_framework.gcp.storage import storage_client

    if not bq_target.emulator:
        pytest.skip("reads gs:// files of the GCS emulator")
    table = bq_target.table(unique("events"))
    truncate(bq, table, base_records())
    before = checksum(bq, table)
    line = '{"event_id": 90, "event_date": "2024-01-05", "user_name": "f"}\n'
    storage_client().bucket(gcs_bucket).blob("ok/part-0.json").upload_from_string(line)
    uri = f"gs://{gcs_bucket}/ok/part-0.json"

    strategy = BigQueryReplaceTableStrategy(
        bq, table, MAPPING, run_id="run00013", guards=GuardConfig(min_rows=2)
    )
    strategy.prepare()
    strategy.load_uris([uri])
    with pytest.raises(GuardError, match="1 rows loaded, at least 2 required"):
        strategy.publish()
    strategy.drop_staging()
    assert checksum(bq, table) == before
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []

    # 1 row replacing 6 is a shrink the default collapse guard (0.5) refuses: allowed here
    strategy = BigQueryReplaceTableStrategy(
        bq, table, MAPPING, run_id="run00014", guards=GuardConfig(min_fraction=0)
    )
    strategy.prepare()
    strategy.load_uris([uri])
    assert strategy.publish().inserted == 1
    strategy.drop_staging()
    assert [r["event_id"] for r in table_rows(bq, table)] == [90]
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []


def test_truncate_with_no_gcs_files_refuses_min_rows(bq: Any, bq_target: BigQueryTarget) -> None:
    """An export that found no files must not empty the table (min_rows in every path,
    by default: 1 for truncate, as on SQL)."""
    table = bq_target.table(unique("events"))
    truncate(bq, table, base_records())
    before = checksum(bq, table)
    strategy = BigQueryReplaceTableStrategy(bq, table, MAPPING, run_id="run00015")
    strategy.prepare()
    strategy.load_uris([])
    with pytest.raises(GuardError, match="0 rows loaded, at least 1 required"):
        strategy.publish()
    strategy.drop_staging()
    # nothing loaded at all is the same
    strategy = BigQueryReplaceTableStrategy(bq, table, MAPPING, run_id="run00016")
    strategy.prepare()
    with pytest.raises(GuardError, match="0 rows loaded"):
        strategy.publish()
    strategy.drop_staging()
    assert checksum(bq, table) == before
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []


def test_load_from_gcs_files_and_staging_bucket(
    bq: Any, bq_target: BigQueryTarget, gcs_bucket: str
) -> None:
    """Rows staged as a file in GCS (staging_bucket) are loaded and the file removed."""
    from etl_framework.connections import build_connector
    from etl_framework.gcp.storage import storage_client

    if not bq_target.emulator:
        pytest.skip("stages in a bucket of the GCS emulator")
    config = {**bq_target.connection, "staging_bucket": f"gs://{gcs_bucket}/stage"}
    with build_connector("warehouse", config) as staged_bq:
        table = bq_target.table(unique("events"))
        strategy = BigQueryReplaceWindowStrategy(
            staged_bq,
            table,
            MAPPING,
            run_id="run00011",
            window=Window(DAY1, DAY3),
            window_column="event_date",
        )
        strategy.prepare()
        strategy.load(rows(base_records()[:4]))
        strategy.publish()
        staged = [b.name for b in storage_client().list_blobs(gcs_bucket)]
        assert len(staged) == 1
        assert staged[0].startswith(f"stage/{strategy.staging.table}/")
        strategy.drop_staging()
        assert list(storage_client().list_blobs(gcs_bucket)) == []
        assert table_rows(staged_bq, table) == expected_rows(base_records()[:4])

        # A crashed run's staged file is deleted by the next run's cleansing.
        ledger = FakeLedger()
        crashed = BigQueryReplaceWindowStrategy(
            staged_bq,
            table,
            MAPPING,
            run_id="runcrash",
            window=Window(DAY1, DAY2),
            window_column="event_date",
            ledger=ledger.handle("runcrash"),
        )
        crashed.prepare()
        crashed.load(rows(base_records()[:1]))
        crashed.publish()  # staging table and file stay: no drop_staging
        assert len(list(storage_client().list_blobs(gcs_bucket))) == 1
        ledger.end("runcrash")
        nxt = BigQueryReplaceWindowStrategy(
            staged_bq,
            table,
            MAPPING,
            run_id="runnext2",
            window=Window(DAY1, DAY3),
            window_column="event_date",
            ledger=ledger.handle("runnext2"),
        )
        assert nxt.drop_stale_staging() == [crashed.staging.table]
        assert list(storage_client().list_blobs(gcs_bucket)) == []
        assert staging_tables(staged_bq, bq_target.project, bq_target.dataset) == []


def test_staging_expires_and_stale_staging_is_dropped(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("events"))
    truncate(bq, table, base_records())
    window = Window(DAY2, DAY3)
    ledger = FakeLedger()
    strategy = BigQueryReplaceWindowStrategy(
        bq,
        table,
        MAPPING,
        run_id="runlive1",
        window=window,
        window_column="event_date",
        ledger=ledger.handle("runlive1"),
    )
    strategy.prepare()
    strategy.load(rows([record(60, DAY2)]))
    strategy._stage()
    staged = bq.client.get_table(str(strategy.staging))
    hours = (staged.expires - dt.datetime.now(dt.UTC)).total_seconds() / 3600
    assert 23 < hours <= 24
    # Leave it behind like a crashed run; also one of a live run of another window.
    other = BigQueryReplaceWindowStrategy(
        bq,
        table,
        MAPPING,
        run_id="runother",
        window=Window(DAY3, DAY3 + dt.timedelta(days=1)),
        window_column="event_date",
        ledger=ledger.handle("runother"),
    )
    other.prepare()
    other.load(rows([record(61, DAY3)]))
    other._stage()
    name = staging_table_name(strategy.target, window, "runlive1")
    assert name in staging_tables(bq, bq_target.project, bq_target.dataset)

    nxt = BigQueryReplaceWindowStrategy(
        bq,
        table,
        MAPPING,
        run_id="runnext1",
        window=Window(DAY1, DAY3),
        window_column="event_date",
        ledger=ledger.handle("runnext1"),
    )
    assert nxt.drop_stale_staging() == []  # runlive1 still holds its lease
    ledger.end("runlive1")  # ... and now it died
    assert nxt.drop_stale_staging() == [name]
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == [other.staging.table]
    other.drop_staging()
    strategy.drop_staging()


def test_schema_mismatch_is_reported_before_loading(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("events"))
    bq.ensure_dataset(bq_target.project, bq_target.dataset)
    bq.query(f"CREATE TABLE `{table}` (event_id STRING, event_date DATE, extra INT64 NOT NULL)")
    strategy = BigQueryReplaceTableStrategy(bq, table, MAPPING, run_id="run00012")
    with pytest.raises(SchemaMismatchError) as caught:
        strategy.prepare()
    text = str(caught.value)
    assert "'event_id' is STRING, the mapping says INT64" in text
    assert "'user_name' (STRING) is missing" in text
    assert "REQUIRED column 'extra' is not mapped" in text
