from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from etl_framework.exceptions import ConfigError, SourceError
from etl_framework.identifiers import InvalidIdentifierError
from etl_framework.mapping import (
    ColumnKind,
    ColumnType,
    Field,
    FieldMapping,
    FieldValueError,
    parse_column_spec,
)

UTC = dt.UTC


# --- parsing types -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "params"),
    [
        ("text", ColumnKind.TEXT, (None, None, None)),
        ("VARCHAR(255)", ColumnKind.VARCHAR, (255, None, None)),
        ("character varying (10)", ColumnKind.VARCHAR, (10, None, None)),
        ("int", ColumnKind.INTEGER, (None, None, None)),
        ("bigint", ColumnKind.BIGINT, (None, None, None)),
        ("double precision", ColumnKind.FLOAT, (None, None, None)),
        ("numeric(12,2)", ColumnKind.NUMERIC, (None, 12, 2)),
        ("numeric(5)", ColumnKind.NUMERIC, (None, 5, 0)),
        ("numeric", ColumnKind.NUMERIC, (None, None, None)),
        ("timestamp with time zone", ColumnKind.TIMESTAMPTZ, (None, None, None)),
        ("jsonb", ColumnKind.JSON, (None, None, None)),
    ],
)
def test_parse_column_type(text: str, kind: ColumnKind, params: tuple[object, ...]) -> None:
    parsed = ColumnType.parse(text)
    assert parsed.kind is kind
    assert (parsed.length, parsed.precision, parsed.scale) == params


def test_parse_modifiers() -> None:
    assert parse_column_spec("varchar(255) not null") == (
        ColumnType(ColumnKind.VARCHAR, length=255),
        False,
        False,
    )
    assert parse_column_spec("bigint PRIMARY KEY") == (ColumnType(ColumnKind.BIGINT), False, True)
    assert parse_column_spec("date null") == (ColumnType(ColumnKind.DATE), True, False)


@pytest.mark.parametrize(
    "text",
    [
        "varchar",
        "varchar(0)",
        "numeric(3,5)",
        "bigint(3)",
        "blob",
        "int; drop table x",
        "text not nul",
        "varchar(1,2)",
        "",
    ],
)
def test_invalid_column_types(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_column_spec(text)


def test_column_type_str_round_trips() -> None:
    for text in ("varchar(20)", "numeric(12,2)", "timestamptz", "double precision", "json"):
        assert str(ColumnType.parse(text)) == text
        assert ColumnType.parse(str(ColumnType.parse(text))) == ColumnType.parse(text)


def test_to_sqlalchemy() -> None:
    assert isinstance(ColumnType.parse("varchar(7)").to_sqlalchemy(), sa.String)
    assert ColumnType.parse("varchar(7)").to_sqlalchemy().length == 7  # type: ignore[attr-defined]
    numeric = ColumnType.parse("numeric(12,2)").to_sqlalchemy()
    assert (numeric.precision, numeric.scale) == (12, 2)  # type: ignore[attr-defined]
    tz = ColumnType.parse("timestamptz").to_sqlalchemy()
    assert isinstance(tz, sa.DateTime) and tz.timezone
    assert isinstance(ColumnType.parse("bigint").to_sqlalchemy(), sa.BigInteger)


# --- fields and mappings ---------------------------------------------------------


def test_field_parses_modifiers_from_type_string() -> None:
    f = Field("id", "id", "bigint primary key")
    assert f.type == ColumnType(ColumnKind.BIGINT)
    assert f.primary_key and not f.nullable
    assert Field("a", "a", "text", nullable=False).nullable is False


def test_from_tuples_with_fourth_element() -> None:
    mapping = FieldMapping.from_tuples(
        [
            ("id", "id", "bigint", "primary key"),
            ("company__name", "company_name", "varchar(50) not null"),
            ("amount", "amount", "numeric(12,2)"),
        ]
    )
    assert mapping.columns == ("id", "company_name", "amount")
    assert mapping.primary_key == ("id",)
    assert mapping.field("company_name").nullable is False


@pytest.mark.parametrize(
    "specs",
    [
        [],
        [("a", "x", "text"), ("b", "X", "text")],
        [("a", "x")],
        [("a", "x", "text", "not null", "extra")],
        [("a", 'x"; drop table t; --', "text")],
    ],
)
def test_invalid_mappings(specs: list[tuple[str, ...]]) -> None:
    with pytest.raises(ConfigError):
        FieldMapping.from_tuples(specs)


def test_hostile_column_name_is_an_identifier_error() -> None:
    with pytest.raises(InvalidIdentifierError, match="column name"):
        Field("a", "a b", "text")


# --- extract ---------------------------------------------------------------------


def test_extract_nested_paths_and_missing_values() -> None:
    mapping = FieldMapping.from_tuples(
        [
            ("id", "id", "bigint"),
            ("company__name", "company_name", "text"),
            ("company__address__city", "city", "text"),
            ("tags__1", "second_tag", "text"),
        ]
    )
    record = {"id": 1, "company": {"name": "ACME", "address": None}, "tags": ["a", "b"]}
    assert mapping.extract(record) == (1, "ACME", None, "b")
    assert mapping.extract({"id": 2}) == (2, None, None, None)
    assert mapping.extract({"id": 3, "company": "flat", "tags": []}) == (3, None, None, None)


def test_extract_flat_fast_path_falls_back_on_missing_keys() -> None:
    mapping = FieldMapping.from_tuples([("a", "a", "int"), ("b", "b", "text")])
    assert mapping.extract({"a": 1, "b": "x"}) == (1, "x")
    assert mapping.extract({"a": 1}) == (1, None)
    assert list(mapping.rows([{"a": "2", "b": 3}])) == [(2, "3")]


def test_extract_rejects_non_mapping_records() -> None:
    mapping = FieldMapping.from_tuples([("a", "a", "int"), ("b", "b", "text")])
    with pytest.raises(SourceError):
        mapping.extract([1, 2])  # type: ignore[arg-type]


def test_extract_not_null_violation_names_the_column() -> None:
    mapping = FieldMapping.from_tuples([("a", "a", "int not null"), ("b", "b", "text")])
    with pytest.raises(FieldValueError, match=r"'a'.*NOT NULL"):
        mapping.extract({"b": "x"})


def test_extract_bad_value_names_the_column_and_value() -> None:
    mapping = FieldMapping.from_tuples([("a", "a", "int"), ("b", "b", "varchar(3)")])
    with pytest.raises(FieldValueError, match=r"column 'b'.*'abcd'.*varchar\(3\)") as info:
        mapping.extract({"a": 1, "b": "abcd"})
    assert info.value.column == "b"
    assert info.value.exit_code == 1


# --- adapting values -------------------------------------------------------------


def adapt(type_text: str, value: object) -> object:
    return ColumnType.parse(type_text).adapt(value, "col")


@pytest.mark.parametrize(
    ("type_text", "value", "expected"),
    [
        ("text", 12, "12"),
        ("text", {"a": 1}, '{"a":1}'),
        ("varchar(3)", "abc", "abc"),
        ("int", "42", 42),
        ("int", 42.0, 42),
        ("int", "", None),
        ("bigint", "1e3", 1000),
        ("smallint", decimal.Decimal("7"), 7),
        ("double precision", "1.5", 1.5),
        ("double precision", 2, 2.0),
        ("numeric(12,2)", 1.005, decimal.Decimal("1.01")),
        ("numeric(12,2)", "10", decimal.Decimal("10.00")),
        ("numeric(12,2)", 0.1, decimal.Decimal("0.10")),
        ("numeric", "3.14159", decimal.Decimal("3.14159")),
        ("boolean", "t", True),
        ("boolean", "No", False),
        ("boolean", 1, True),
        ("date", "2024-01-15", dt.date(2024, 1, 15)),
        ("date", "20240115", dt.date(2024, 1, 15)),
        (
            "date",
            dt.datetime(2024, 1, 15, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2))),
            dt.date(2024, 1, 16),
        ),
        ("date", 20240115, dt.date(2024, 1, 15)),
        ("timestamptz", "2024-01-15T10:00:00Z", dt.datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("timestamptz", "2024-01-15T12:00:00+02:00", dt.datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("timestamptz", "2024-01-15 10:00:00", dt.datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("timestamptz", 86400, dt.datetime(1970, 1, 2, tzinfo=UTC)),
        ("timestamptz", dt.date(2024, 1, 15), dt.datetime(2024, 1, 15, tzinfo=UTC)),
        ("timestamp", "2024-01-15T12:00:00+02:00", dt.datetime(2024, 1, 15, 10)),
        (
            "json",
            {"d": dt.date(2024, 1, 1), "n": decimal.Decimal("1.5"), "t": (1, 2)},
            {"d": "2024-01-01", "n": 1.5, "t": [1, 2]},
        ),
        ("json", uuid.UUID(int=0), "00000000-0000-0000-0000-000000000000"),
        ("json", "plain", "plain"),
        ("json", None, None),
    ],
)
def test_adapt(type_text: str, value: object, expected: object) -> None:
    result = adapt(type_text, value)
    assert result == expected
    assert type(result) is type(expected)


def test_timestamptz_result_is_utc() -> None:
    value = adapt("timestamptz", "2024-06-01T00:00:00-07:00")
    assert isinstance(value, dt.datetime) and value.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("type_text", "value"),
    [
        ("varchar(3)", "abcd"),
        ("text", b"bytes"),
        ("int", "4.5"),
        ("int", True),
        ("int", "abc"),
        ("smallint", 40000),
        ("bigint", 2**63),
        ("double precision", "x"),
        ("numeric(4,2)", "100.00"),
        ("numeric(12,2)", float("nan")),
        ("numeric", "Infinity"),
        ("boolean", "maybe"),
        ("boolean", 2),
        ("date", "15/01/2024"),
        ("date", []),
        ("timestamptz", "yesterday"),
        ("json", float("inf")),
        ("json", {"b": b"x"}),
    ],
)
def test_adapt_rejects(type_text: str, value: object) -> None:
    with pytest.raises(FieldValueError, match="column 'col'"):
        adapt(type_text, value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, "must be YYYYMMDD"),
        (1705276800, "must be YYYYMMDD"),
        (20241345, r"20241345 is not a date \(YYYY-MM-DD\)"),
        (20240115.0, "is a float, not a date"),
        (True, "is a bool, not a date"),
    ],
)
def test_date_refuses_numbers_that_are_not_yyyymmdd(value: object, reason: str) -> None:
    """An int used to be read as epoch seconds: 20240115 became 1970-08-23, silently."""
    with pytest.raises(FieldValueError, match=reason) as info:
        adapt("date", value)
    assert info.value.column == "col" and info.value.value == value


def test_yyyymmdd_integer_is_the_same_date_through_the_extractor() -> None:
    mapping = FieldMapping.from_tuples([("d", "d", "date"), ("e", "e", "date")])
    assert mapping.extract({"d": 20240115, "e": "20240115"}) == (
        dt.date(2024, 1, 15),
        dt.date(2024, 1, 15),
    )
    with pytest.raises(FieldValueError, match="column 'd': 86400 is not a date"):
        mapping.extract({"d": 86400, "e": None})


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        "nan",
        "NaN",
        "inf",
        "-Infinity",
        "1e400",
        decimal.Decimal("NaN"),
        10**400,
    ],
)
def test_float_refuses_non_finite_values(value: object) -> None:
    """PostgreSQL would store NaN but SQLite NULL (even in a NOT NULL column): refused."""
    with pytest.raises(FieldValueError, match="column 'col'"):
        adapt("double precision", value)
    mapping = FieldMapping.from_tuples([("id", "id", "int"), ("f", "f", "float not null")])
    with pytest.raises(FieldValueError, match=r"column 'f'.*(not a finite number|out of range)"):
        mapping.extract({"id": 1, "f": value})  # the generated fast path too


def test_numeric_rounds_half_up_like_postgres() -> None:
    assert adapt("numeric(5,0)", "2.5") == decimal.Decimal("3")
    assert adapt("numeric(5,0)", "-2.5") == decimal.Decimal("-3")


def test_mapping_is_frozen_and_hashable_by_fields() -> None:
    a = FieldMapping.from_tuples([("a", "a", "int")])
    b = FieldMapping.from_tuples([("a", "a", "int")])
    assert a == b
    with pytest.raises(AttributeError):
        a.fields = ()  # type: ignore[misc]


def test_source_paths_never_become_code() -> None:
    """The extractor is generated code; keys are bound values, so any text is just a key."""
    hostile = "a'] + eval('1') + ['"
    mapping = FieldMapping.from_tuples(
        [(hostile, "a", "text"), ("b\n  raise SystemExit", "b", "int")]
    )
    assert mapping.extract({hostile: "x", "b\n  raise SystemExit": 2}) == ("x", 2)
    assert mapping.extract({}) == (None, None)


# --- the extractor of a loader that writes straight into the database ---------------


def _money_mapping() -> FieldMapping:
    return FieldMapping.from_tuples(
        [("id", "id", "bigint"), ("amount", "amount", "numeric(12,2)"), ("j", "j", "json")]
    )


def test_rows_is_an_iterator_a_loader_can_take() -> None:
    mapping = _money_mapping()
    rows = mapping.rows([{"id": 1, "amount": 1, "j": None}, {"id": 2, "amount": 2, "j": None}])
    assert iter(rows) is rows
    assert rows.take(("other",)) is None  # not this mapping's columns
    records = rows.take(mapping.columns)
    assert records is not None and [r["id"] for r in records] == [1, 2]
    assert list(rows) == [] and rows.take(mapping.columns) is None  # taken once
    started = mapping.rows([{"id": 1, "amount": 1, "j": None}])
    assert next(started) == (1, decimal.Decimal("1.00"), None)
    assert started.take(mapping.columns) is None  # already read: row by row


def test_rounded_by_target_passes_decimals_on_with_the_same_checks() -> None:
    mapping = _money_mapping()
    extract = mapping.extractor(rounded_by_target=["amount"])
    assert mapping.extractor(rounded_by_target=["amount"]) is extract  # cached
    d = decimal.Decimal
    for value in (d("1.005"), d("-9999999999.994999"), d("0"), d("1E+9")):
        assert extract({"id": 1, "amount": value, "j": None})[1] is value  # unrounded
    # anything else is the plain extractor's value or error, word for word
    cases = [d("9999999999.995"), d("-9999999999.995"), d("NaN"), d("sNaN"), d("Infinity"), 1.005]
    cases += ["2.675", 3, None, "abc", True]
    for value in cases:
        record = {"id": 1, "amount": value, "j": None}
        try:
            expected: Any = mapping.extract(record)
        except FieldValueError as exc:
            with pytest.raises(FieldValueError) as info:
                extract(record)
            assert str(info.value) == str(exc)
        else:
            assert extract(record) == expected


def test_wrap_json_wraps_non_null_json_values_on_both_paths() -> None:
    mapping = _money_mapping()
    extract = mapping.extractor(wrap_json=lambda v: ("wrapped", v))
    assert extract({"id": 1, "amount": None, "j": {"a": [1]}}) == (1, None, ("wrapped", {"a": [1]}))
    assert extract({"id": 1, "amount": None, "j": None}) == (1, None, None)
    # a value adapted one by one (the id is a string) is wrapped the same way
    assert extract({"id": "2", "amount": "1", "j": [1]}) == (
        2,
        decimal.Decimal("1.00"),
        ("wrapped", [1]),
    )
