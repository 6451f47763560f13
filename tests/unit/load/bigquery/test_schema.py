"""Mapping kinds -> BigQuery types, target schema checks, load files."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from google.cloud.bigquery import SchemaField

from etl_framework.exceptions import ConfigError, SchemaMismatchError
from etl_framework.load.bigquery.files import LoadFileWriter
from etl_framework.load.bigquery.schema import bigquery_type, check_target_schema, schema_fields
from etl_framework.mapping import ColumnType, FieldMapping

MAPPING = FieldMapping.from_tuples(
    [
        ("id", "id", "bigint primary key"),
        ("a__b", "nested", "varchar(10)"),
        ("n", "small", "smallint"),
        ("f", "ratio", "double precision"),
        ("m", "money", "numeric(12,2) not null"),
        ("big", "big", "numeric(40,20)"),
        ("any", "anynum", "numeric"),
        ("ok", "ok", "boolean"),
        ("d", "day", "date"),
        ("t", "local_time", "timestamp"),
        ("tz", "moment", "timestamptz"),
        ("j", "doc", "json"),
        ("s", "note", "text"),
    ]
)


def test_kinds_map_to_bigquery_types() -> None:
    fields = {f.name: f for f in schema_fields(MAPPING, {"id": "the id"})}
    assert {n: f.field_type for n, f in fields.items()} == {
        "id": "INT64",
        "nested": "STRING",
        "small": "INT64",
        "ratio": "FLOAT64",
        "money": "NUMERIC",
        "big": "BIGNUMERIC",
        "anynum": "NUMERIC",
        "ok": "BOOL",
        "day": "DATE",
        "local_time": "DATETIME",
        "moment": "TIMESTAMP",
        "doc": "JSON",
        "note": "STRING",
    }
    assert fields["id"].mode == "REQUIRED" and fields["id"].description == "the id"
    assert fields["money"].mode == "REQUIRED" and fields["note"].mode == "NULLABLE"
    assert (fields["money"].precision, fields["money"].scale) == (12, 2)
    assert (fields["big"].precision, fields["big"].scale) == (40, 20)
    assert fields["nested"].max_length == 10
    assert fields["anynum"].precision is None


def test_numeric_too_large_for_bigquery() -> None:
    with pytest.raises(ConfigError, match="does not fit BigQuery"):
        bigquery_type(ColumnType.parse("numeric(80,2)"))


def test_schema_check_accepts_legacy_names_and_extra_nullable_columns() -> None:
    mapping = FieldMapping.from_tuples(
        [("id", "id", "bigint"), ("ok", "ok", "boolean"), ("x", "x", "double precision")]
    )
    existing = [
        SchemaField("ID", "INTEGER"),
        SchemaField("ok", "BOOLEAN"),
        SchemaField("x", "FLOAT", description="kept"),
        SchemaField("extra", "STRING"),
    ]
    check_target_schema("p.d.t", existing, mapping)


def test_schema_check_lists_every_problem() -> None:
    mapping = FieldMapping.from_tuples(
        [("id", "id", "bigint"), ("n", "n", "text"), ("r", "r", "text")]
    )
    existing = [
        SchemaField("id", "STRING"),
        SchemaField("r", "STRING", mode="REPEATED"),
        SchemaField("must", "DATE", mode="REQUIRED"),
    ]
    with pytest.raises(SchemaMismatchError) as caught:
        check_target_schema("p.d.t", existing, mapping)
    text = str(caught.value)
    assert "'id' is STRING, the mapping says INT64" in text
    assert "'n' (STRING) is missing" in text
    assert "'r' is REPEATED" in text
    assert "REQUIRED column 'must' is not mapped" in text


ROW = (
    1,
    "abc",
    3,
    0.5,
    decimal.Decimal("12.30"),
    decimal.Decimal("1.00000000000000000001"),
    decimal.Decimal("7"),
    True,
    dt.date(2024, 1, 2),
    dt.datetime(2024, 1, 2, 3, 4, 5, 6),
    dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    {"k": [1, "x"]},
    None,
)


def test_ndjson_load_file(tmp_path: Path) -> None:
    writer = LoadFileWriter(tmp_path / "f.ndjson", MAPPING, "ndjson", batch_rows=2)
    assert writer.write([ROW] * 3) == 3
    writer.close()
    lines = (tmp_path / "f.ndjson").read_text().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0]) == {
        "id": 1,
        "nested": "abc",
        "small": 3,
        "ratio": 0.5,
        "money": "12.30",
        "big": "1.00000000000000000001",
        "anynum": "7",
        "ok": True,
        "day": "2024-01-02",
        "local_time": "2024-01-02 03:04:05.000006",
        "moment": "2024-01-02 03:04:05+00:00",
        "doc": {"k": [1, "x"]},
    }
    assert writer.source_format == "NEWLINE_DELIMITED_JSON"


def test_parquet_load_file_types(tmp_path: Path) -> None:
    writer = LoadFileWriter(tmp_path / "f.parquet", MAPPING, "parquet", batch_rows=2)
    writer.write([ROW] * 5)
    writer.close()
    table = pq.read_table(tmp_path / "f.parquet")
    assert table.num_rows == 5
    assert pq.ParquetFile(tmp_path / "f.parquet").num_row_groups == 3
    types = {f.name: str(f.type) for f in table.schema}
    assert types["money"] == "decimal128(38, 9)"
    assert types["big"] == "decimal256(76, 38)"
    assert types["local_time"] == "timestamp[us]"
    assert types["moment"] == "timestamp[us, tz=UTC]"
    assert types["day"] == "date32[day]"
    first = table.to_pylist()[0]
    assert first["doc"] == '{"k":[1,"x"]}'
    assert first["money"] == decimal.Decimal("12.30")
    assert first["moment"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
