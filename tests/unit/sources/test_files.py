"""File sources: CSV and NDJSON streaming, gzip, errors naming line and field."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from etl_framework.exceptions import SourceError
from etl_framework.mapping import FieldMapping, FieldValueError
from etl_framework.sources.files import csv_records, ndjson_records

CSV = 'id,name,amount\n1,a,1.50\n2,,\n3,"c, d",3\n'


@pytest.mark.parametrize("gz", [False, True])
def test_csv_records(tmp_path: Path, gz: bool) -> None:
    path = tmp_path / ("x.csv.gz" if gz else "x.csv")
    path.write_bytes(gzip.compress(CSV.encode()) if gz else CSV.encode())
    records = list(csv_records(path))
    assert records[2] == {"id": "3", "name": "c, d", "amount": "3"}
    mapping = FieldMapping.from_tuples(
        [("id", "id", "bigint"), ("name", "name", "text"), ("amount", "amount", "numeric(5,2)")]
    )
    rows = list(mapping.rows(records))
    assert rows[1] == (2, "", None)  # empty numeric -> NULL, empty text stays text


def test_csv_with_too_many_fields_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2,3\n")
    with pytest.raises(SourceError, match="line 2 has more fields"):
        list(csv_records(path))


def test_csv_with_too_few_fields_is_a_source_error(tmp_path: Path) -> None:
    """A short line used to load with NULLs in its missing columns, silently."""
    path = tmp_path / "x.csv"
    path.write_text('a,b,c\n1,2,3\n"x\ny",5\n')  # the short record starts on line 3
    records = csv_records(path)
    assert next(records) == {"a": "1", "b": "2", "c": "3"}
    with pytest.raises(SourceError, match=r"x\.csv: line 3 has fewer fields than the header"):
        next(records)


def test_csv_short_lines_allowed_with_an_explicit_restval(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1\n")
    assert list(csv_records(path, restval="")) == [{"a": "1", "b": ""}]


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        list(csv_records(tmp_path / "nope.csv"))


@pytest.mark.parametrize("gz", [False, True])
def test_ndjson_records(tmp_path: Path, gz: bool) -> None:
    text = '{"id": 1, "company": {"name": "ACME"}}\n\n{"id": 2}\n'
    path = tmp_path / ("x.ndjson.gz" if gz else "x.ndjson")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    assert list(ndjson_records(path)) == [{"id": 1, "company": {"name": "ACME"}}, {"id": 2}]


def test_ndjson_bad_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_text('{"id": 1}\n{oops}\n')
    with pytest.raises(SourceError, match="line 2 is not JSON"):
        list(ndjson_records(path))


def test_corrupt_gzip_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson.gz"
    data = gzip.compress(
        "".join(json.dumps({"id": i * 7919 % 10007}) + "\n" for i in range(5000)).encode()
    )
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError):
        list(ndjson_records(path))


def test_files_stream_lazily(tmp_path: Path) -> None:
    path = tmp_path / "big.ndjson.gz"
    with gzip.open(path, "wt") as fh:
        for i in range(50_000):
            fh.write(json.dumps({"id": i}) + "\n")
    records = ndjson_records(path)
    assert next(iter(records)) == {"id": 0}  # a generator: nothing read ahead
    records.close()  # type: ignore[attr-defined]


def test_ndjson_bad_value_is_named_by_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_text('{"id": 1, "n": 5}\n\n{"id": 2, "n": 1.5}\n')
    mapping = FieldMapping.from_tuples([("id", "id", "bigint primary key"), ("n", "n", "integer")])
    with pytest.raises(FieldValueError) as info:
        list(mapping.rows(ndjson_records(path)))
    assert str(info.value) == f"{path} line 3 (id=2): column 'n': 1.5 is not a whole number"
    assert info.value.record == f"{path} line 3 (id=2)" and info.value.column == "n"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("x,abc,1,t,2024-01-15", "column 'i': 'abc' is not an integer"),
        ("x,99999999999,1,t,2024-01-15", "column 'i': '99999999999' is out of range for integer"),
        ("x,1,1.5.5,t,2024-01-15", "column 'f': '1.5.5' is not a number"),
        ("x,1,1,maybe,2024-01-15", "column 'b': 'maybe' is not a boolean (true/false"),
        ("x,1,1,t,15/01/2024", "column 'd': '15/01/2024' is not a date (YYYY-MM-DD)"),
        ("toolong,1,1,t,2024-01-15", "column 'k': 'toolong' has 7 characters, more than"),
    ],
)
def test_csv_errors_in_words_a_person_expects(tmp_path: Path, row: str, problem: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(f"k,i,f,b,d\nok,1,1,t,2024-01-15\n{row}\n")
    mapping = FieldMapping.from_tuples(
        [
            ("k", "k", "varchar(4)"),
            ("i", "i", "integer"),
            ("f", "f", "double precision"),
            ("b", "b", "boolean"),
            ("d", "d", "date"),
        ]
    )
    with pytest.raises(FieldValueError) as info:
        list(mapping.rows(csv_records(path)))
    # no primary key: the file and line alone name the record
    assert str(info.value).startswith(f"{path} line 3: {problem}")


def test_records_rebuilt_by_a_transform_are_named_by_their_number() -> None:
    mapping = FieldMapping.from_tuples([("id", "id", "bigint primary key"), ("n", "n", "integer")])
    records = ({"id": i, "n": "x" if i == 3 else i} for i in range(5))
    with pytest.raises(FieldValueError, match=r"^record 4 \(id=3\): column 'n': 'x' is not an"):
        list(mapping.rows(records))


def test_csv_restkey_keeps_extra_fields(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2,3,4\n")
    assert list(csv_records(path, restkey="rest")) == [{"a": "1", "b": "2", "rest": ["3", "4"]}]
    headerless = tmp_path / "y.csv"
    headerless.write_text("1,2\n")
    assert list(csv_records(headerless, fieldnames=["x", "y"])) == [{"x": "1", "y": "2"}]
