"""Transfers on the ready-made source bases (`SqlSourceTransferJob`,
`HttpSourceTransferJob`) and the checks of their source fingerprints, shared by the
SQLite (unit), PostgreSQL and HTTP (integration) tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from etl_framework import register
from etl_framework.mapping import FieldMapping
from etl_framework.testing import TransferHarness
from etl_framework.transfers import HttpSourceTransferJob, SqlSourceTransferJob

SRC_MAPPING = FieldMapping.from_tuples(
    [
        ("id", "id", "bigint primary key"),
        ("day", "day", "date not null"),
        ("amount", "amount", "bigint"),
    ]
)


@register("fp_sql_copy")
class FpSqlCopy(SqlSourceTransferJob):
    """src -> src_copy, fingerprinted by max(updated_at) and count(*)."""

    source_connection = "shop"
    source_query = "SELECT id, day, amount FROM src ORDER BY id"
    fingerprint_query = "SELECT max(updated_at), count(*) FROM src"
    target_table = "src_copy"
    mapping = SRC_MAPPING


@register("fp_sql_plain")
class FpSqlPlain(SqlSourceTransferJob):
    """src -> src_plain; no fingerprint query unless the config gives one."""

    source_connection = "shop"
    source_query = "SELECT id, day, amount FROM src ORDER BY id"
    target_table = "src_plain"
    mapping = SRC_MAPPING


@register("fp_sql_window")
class FpSqlWindow(SqlSourceTransferJob):
    """A delta transfer whose queries bind the window (``:start``/``:end``)."""

    source_connection = "shop"
    source_query = "SELECT id, day, amount FROM src WHERE day >= :start AND day < :end"
    fingerprint_query = (
        "SELECT max(updated_at), count(*) FROM src WHERE day >= :start AND day < :end"
    )
    target_table = "src_window"
    mapping = SRC_MAPPING
    window_column = "day"


@register("fp_http_orders")
class FpHttpOrders(HttpSourceTransferJob):
    """The Hawk test API's records into omis_copy."""

    target_table = "omis_copy"
    mapping = FieldMapping.from_tuples(
        [
            ("reference", "reference", "varchar(100) primary key"),
            ("company__name", "company_name", "varchar(255) not null"),
            ("modified_on", "modified_on", "timestamptz"),
        ]
    )


SRC_ROWS = [
    (1, "2024-01-10", 100, "2024-01-10 08:00:00"),
    (2, "2024-01-14", 200, "2024-01-14 08:00:00"),
    (3, "2024-01-15", 300, "2024-01-15 08:00:00"),
]


def execute(url: str, sql: str, params: Any = None) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params or {})
    finally:
        engine.dispose()


def create_src(url: str, rows: list[tuple[int, str, int, str]]) -> None:
    """Table src(id, day, amount, updated_at) holding ``rows``."""
    execute(url, "DROP TABLE IF EXISTS src")
    execute(
        url,
        "CREATE TABLE src (id bigint primary key, day date not null, amount bigint, "
        "updated_at timestamp not null)",
    )
    for row in rows:
        insert_src(url, *row)


def insert_src(url: str, id_: int, day: str, amount: int, updated_at: str) -> None:
    execute(
        url,
        "INSERT INTO src (id, day, amount, updated_at) VALUES (:id, :day, :amount, :updated_at)",
        {
            "id": id_,
            "day": _date(day),
            "amount": amount,
            "updated_at": _timestamp(updated_at),
        },
    )


def update_src(url: str, id_: int, amount: int, updated_at: str) -> None:
    execute(
        url,
        "UPDATE src SET amount = :amount, updated_at = :updated_at WHERE id = :id",
        {"id": id_, "amount": amount, "updated_at": _timestamp(updated_at)},
    )


def _date(text: str) -> Any:
    import datetime as dt

    return dt.date.fromisoformat(text)


def _timestamp(text: str) -> Any:
    import datetime as dt

    return dt.datetime.fromisoformat(text)


def sql_harness(
    directory: Path, source_url: str, transfers: Mapping[str, Mapping[str, Any]] | None = None
) -> TransferHarness:
    return TransferHarness(
        directory, connections={"shop": {"type": "sql", "url": source_url}}, transfers=transfers
    )


def check_sql_source_fingerprints(directory: Path, source_url: str) -> None:
    """The fingerprint query decides: the same result skips, a changed row runs; no
    fingerprint query never skips; the config may give one; a window's query binds it."""
    from etl_framework.runner import run_transfer

    create_src(source_url, SRC_ROWS)
    harness = sql_harness(directory / "h", source_url)
    config = str(harness.config_path)

    def run(name: str, mode: str = "truncate", start: str | None = None) -> Any:
        return run_transfer(name, "20240115", mode, config, start, skip_unchanged=True)

    first = run("fp_sql_copy")
    assert first.status == "succeeded"
    assert harness.query("SELECT id, amount FROM src_copy ORDER BY id") == [
        (1, 100),
        (2, 200),
        (3, 300),
    ]
    second = run("fp_sql_copy")
    assert (second.status, second.unchanged_since) == ("skipped", first.run_id)

    # a source row changes (and says so in updated_at): the run loads it
    update_src(source_url, 2, 250, "2024-01-16 09:00:00")
    third = run("fp_sql_copy")
    assert third.status == "succeeded"
    assert harness.query("SELECT amount FROM src_copy WHERE id = 2") == [(250,)]
    assert run("fp_sql_copy").unchanged_since == third.run_id
    # a row added with an older updated_at: count(*) changes, max(updated_at) does not
    insert_src(source_url, 4, "2024-01-12", 400, "2024-01-11 00:00:00")
    assert run("fp_sql_copy").status == "succeeded"
    assert harness.query("SELECT count(*) FROM src_copy") == [(4,)]
    assert run("fp_sql_copy").status == "skipped"

    # without a fingerprint query: never skips
    assert run("fp_sql_plain").status == "succeeded"
    assert run("fp_sql_plain").status == "succeeded"

    # the config gives one: now it skips
    configured = str(
        sql_harness(
            directory / "configured",
            source_url,
            {"fp_sql_plain": {"source": {"fingerprint_query": "SELECT count(*) FROM src"}}},
        ).config_path
    )
    once = run_transfer("fp_sql_plain", "20240115", "truncate", configured, skip_unchanged=True)
    again = run_transfer("fp_sql_plain", "20240115", "truncate", configured, skip_unchanged=True)
    assert (once.status, again.status, again.unchanged_since) == (
        "succeeded",
        "skipped",
        once.run_id,
    )

    # delta: the fingerprint query binds the window; a change outside it does not count
    window = run("fp_sql_window", "delta", "20240114")  # [2024-01-14, 2024-01-16)
    assert window.status == "succeeded"
    assert harness.query("SELECT id FROM src_window ORDER BY id") == [(2,), (3,)]
    update_src(source_url, 1, 111, "2024-01-17 00:00:00")
    assert run("fp_sql_window", "delta", "20240114").unchanged_since == window.run_id
    update_src(source_url, 3, 333, "2024-01-17 00:00:00")
    assert run("fp_sql_window", "delta", "20240114").status == "succeeded"
    assert harness.query("SELECT amount FROM src_window WHERE id = 3") == [(333,)]
