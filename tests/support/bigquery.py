"""Shared data, checks and targets of the BigQuery suite (tests/integration/bigquery).

By default every test runs against the emulator; with ``ETL_BQ_TEST_PROJECT`` and
``ETL_BQ_TEST_DATASET`` set, against that real project instead (see docs/gcp.md).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from etl_framework.mapping import FieldMapping

REAL_PROJECT_ENV = "ETL_BQ_TEST_PROJECT"
REAL_DATASET_ENV = "ETL_BQ_TEST_DATASET"
REAL_BUCKET_ENV = "ETL_BQ_TEST_BUCKET"
REAL_LOCATION_ENV = "ETL_BQ_TEST_LOCATION"

# Read once at import (tests/integration/bigquery/conftest.py imports this module at
# collection): the autouse fixture of tests/conftest.py removes ETL_* per test.
_REAL = {
    name: os.environ.get(name)
    for name in (REAL_PROJECT_ENV, REAL_DATASET_ENV, REAL_BUCKET_ENV, REAL_LOCATION_ENV)
}
REAL_LOCATION = _REAL[REAL_LOCATION_ENV]


def real_project() -> tuple[str, str] | None:
    project, dataset = _REAL[REAL_PROJECT_ENV], _REAL[REAL_DATASET_ENV]
    return (project, dataset) if project and dataset else None


@dataclass(frozen=True)
class BigQueryTarget:
    """Where a test writes: a connection config and a dataset of its own."""

    connection: dict[str, Any]
    project: str
    dataset: str
    emulator: bool
    created: list[str] = field(default_factory=list)

    def table(self, name: str) -> str:
        """A table name of this test (dropped after the test on a real project)."""
        full = f"{self.project}.{self.dataset}.{name}"
        self.created.append(full)
        return full


MAPPING = FieldMapping.from_tuples(
    [
        ("id", "event_id", "bigint primary key"),
        ("day", "event_date", "date not null"),
        ("user__name", "user_name", "varchar(50)"),
        ("amount", "amount", "numeric(12,2)"),
        ("at", "created_at", "timestamptz"),
        ("payload", "payload", "json"),
        ("ok", "ok", "boolean"),
    ]
)
DAY1, DAY2, DAY3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)


def unique(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


def record(i: int, day: dt.date, name: str = "u", amount: str = "1.50") -> dict[str, Any]:
    return {
        "id": i,
        "day": day.isoformat(),
        "user": {"name": f"{name}{i}"},
        "amount": amount,
        "at": f"{day.isoformat()}T10:00:{i % 60:02d}Z",
        "payload": {"i": i, "tags": ["a", "b"]},
        "ok": i % 2 == 0,
    }


def rows(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return list(MAPPING.rows(records))


def _norm(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, (dt.date, decimal.Decimal)):
        return str(value) if not isinstance(value, decimal.Decimal) else str(value.normalize())
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def table_rows(
    bq: Any, table: str, where: str = "TRUE", columns: tuple[str, ...] = MAPPING.columns
) -> list[dict[str, Any]]:
    """Every row of ``table`` (mapped columns), normalised, ordered by event_id."""
    cols = ", ".join(f"`{c}`" for c in columns)
    result = bq.query(f"SELECT {cols} FROM `{table}` WHERE {where} ORDER BY event_id")
    return [{c: _norm(row[c]) for c in columns} for row in result]


def checksum(bq: Any, table: str, where: str = "TRUE") -> str:
    data = json.dumps(table_rows(bq, table, where), sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def expected_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows(records):
        out.append({c: _norm(v) for c, v in zip(MAPPING.columns, row, strict=True)})
    for item in out:
        if isinstance(item["payload"], (dict, list)):
            item["payload"] = item["payload"]
    return sorted(out, key=lambda r: r["event_id"])


def staging_tables(bq: Any, project: str, dataset: str) -> list[str]:
    return [t for t in bq.list_tables(project, dataset) if t.startswith("_etl_stg_")]


def drop_tables(target: BigQueryTarget) -> None:
    """Drop the tables a test on a real project created."""
    from etl_framework.connections import build_connector
    from etl_framework.connectors.bigquery import BigQueryConnector

    connector = build_connector("cleanup", target.connection)
    assert isinstance(connector, BigQueryConnector)
    with connector:
        for name in target.created:
            connector.delete_table(connector.table_ref(name))
