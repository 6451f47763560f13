"""Load files refuse what BigQuery cannot take with errors naming the column and value."""

from __future__ import annotations

import decimal
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from etl_framework.load.bigquery.files import LoadFileWriter, bigquery_numeric
from etl_framework.mapping import FieldMapping, FieldValueError

NUMERIC = FieldMapping.from_tuples([("id", "id", "bigint"), ("x", "amount", "numeric")])
D = decimal.Decimal


def test_plain_numeric_is_rounded_like_bigquery_in_parquet(tmp_path: Path) -> None:
    """NUMERIC holds 9 decimals; BigQuery rounds half away from zero when storing."""
    path = tmp_path / "f.parquet"
    writer = LoadFileWriter(path, NUMERIC, "parquet")
    rows = [(1, D("1.0000000005")), (2, D("-1.0000000005")), (3, D("1E-10")), (4, None)]
    assert writer.write(rows) == 4
    writer.close()
    assert [r["amount"] for r in pq.read_table(path).to_pylist()] == [
        D("1.000000001"),
        D("-1.000000001"),
        D("0"),
        None,
    ]


@pytest.mark.parametrize("fmt", ["parquet", "ndjson"])
def test_numeric_beyond_29_integer_digits_names_column_and_value(tmp_path: Path, fmt: str) -> None:
    writer = LoadFileWriter(tmp_path / "f", NUMERIC, fmt)  # type: ignore[arg-type]
    too_big = D("123456789012345678901234567890")
    with pytest.raises(FieldValueError, match="at most 29 integer digits") as caught:
        writer.write([(1, D("1.5")), (2, too_big)])
    writer.close()
    assert caught.value.column == "amount"
    assert caught.value.value == too_big
    assert "123456789012345678901234567890" in str(caught.value)


def test_numeric_rounding_to_the_limit_is_refused() -> None:
    nines = D("9" * 29 + ".9999999995")  # rounds up to 10**29
    with pytest.raises(FieldValueError, match="NUMERIC"):
        bigquery_numeric("amount", nines)
    assert bigquery_numeric("amount", D("9" * 29 + ".999999999")) == D("9" * 29 + ".999999999")
    with pytest.raises(FieldValueError, match="not a finite number"):
        bigquery_numeric("amount", D("NaN"))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_ndjson_refuses_non_finite_floats(tmp_path: Path, value: float) -> None:
    """The mapping refuses NaN/Infinity; the writer never emits them as invalid JSON."""
    mapping = FieldMapping.from_tuples([("id", "id", "bigint"), ("x", "ratio", "double precision")])
    path = tmp_path / "f.ndjson"
    writer = LoadFileWriter(path, mapping, "ndjson")
    with pytest.raises(FieldValueError, match=r"is not valid JSON \(NaN/Infinity\)") as caught:
        writer.write([(1, 0.5), (2, value)])
    writer.close()
    assert caught.value.column == "ratio"
    for line in path.read_text().splitlines():  # nothing invalid was written
        json.loads(line, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))


@pytest.mark.parametrize("fmt", ["parquet", "ndjson"])
def test_json_column_with_nan_inside_is_refused(tmp_path: Path, fmt: str) -> None:
    mapping = FieldMapping.from_tuples([("id", "id", "bigint"), ("p", "payload", "json")])
    writer = LoadFileWriter(tmp_path / "f", mapping, fmt)  # type: ignore[arg-type]
    with pytest.raises(FieldValueError, match="not valid JSON") as caught:
        writer.write([(1, {"a": float("nan")})])
    writer.close()
    assert caught.value.column == "payload"
