"""Field mapping: source record paths -> target columns -> column types.

As in the data-flow pipelines, a transfer declares its target as a list of
``(source_path, target_column, column_type)`` tuples::

    MAPPING = FieldMapping.from_tuples([
        ("id", "order_id", "bigint primary key"),
        ("company__name", "company_name", "varchar(200) not null"),
        ("amount", "amount", "numeric(12,2)"),
        ("created_at", "created_at", "timestamptz"),
        ("payload", "payload", "json"),
    ])

``source_path`` walks nested mappings with ``__`` (``company__name`` reads
``record["company"]["name"]``; an integer segment indexes a list). A missing key or a
``None`` on the way gives ``None``.

``column_type`` is a type name with optional parameters, followed by optional
modifiers ``not null`` / ``null`` / ``primary key`` (case-insensitive); a fourth tuple
element, if given, is a string of the same modifiers, e.g.
``("id", "id", "bigint", "primary key")``. A primary key is never nullable.

Type names (aliases in brackets) and what a value is adapted to:

============================  ===============  ==========================================
type                          kind             Python value written
============================  ===============  ==========================================
text [string]                 TEXT             str
varchar(n) [character varying] VARCHAR         str, at most n characters (else error)
smallint / integer [int]      SMALLINT/INTEGER int within the type's range
bigint                        BIGINT           int within the type's range
double precision [float, float8, double]  FLOAT  a finite float (NaN and infinity
                                               are refused: SQLite would store NULL)
numeric(p,s) [decimal]        NUMERIC          Decimal rounded half-up to s places,
                                               at most p-s integer digits (else error)
boolean [bool]                BOOLEAN          bool (also from "true"/"f"/"1"/0...)
date                          DATE             date (from ISO strings, datetimes, and
                                               YYYYMMDD as a string or an integer;
                                               other numbers are refused, not read
                                               as epoch seconds)
timestamp                     TIMESTAMP        naive datetime (aware ones converted to UTC)
timestamptz [timestamp with time zone]  TIMESTAMPTZ  aware datetime in UTC; from ISO
                                               strings (naive = UTC) or epoch seconds
json [jsonb]                  JSON             a JSON-serialisable value (dates -> ISO
                                               strings, Decimal -> float, tuples -> lists)
============================  ===============  ==========================================

For every kind except TEXT/VARCHAR/JSON an empty string is read as NULL. A value
that cannot be adapted raises `FieldValueError` (a `SourceError`, exit code 1)
naming the column and the value in words (``'abc' is not an integer``,
``'2024-13-45' is not a date (YYYY-MM-DD)``); `FieldMapping.rows` adds the record:
its file and line or API page and index (`etl_framework.sources.located`), else its
number, and its primary-key values when the mapping has keys::

    orders.csv line 5 (order_id='17'): column 'quantity': 'abc' is not an integer

On SQLite a ``numeric`` column is stored exactly (scaled integers or text, see
`etl_framework.load.sql.sqlite_decimal`), never as binary floats.

`ColumnType.kind` is an Enum so other backends (BigQuery) map kinds to their own
types; `ColumnType.to_sqlalchemy()` gives the SQLAlchemy type.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
import operator
import re
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING, Any

from etl_framework.exceptions import ConfigError, SourceError
from etl_framework.identifiers import validate_identifier
from etl_framework.sources.located import LocatedRecord

if TYPE_CHECKING:
    from sqlalchemy.types import TypeEngine

PATH_SEPARATOR = "__"
"""Separates the segments of a nested source path."""
UTC = dt.UTC


class ColumnKind(enum.StrEnum):
    """The closed set of column types a mapping can declare."""

    TEXT = "text"
    VARCHAR = "varchar"
    SMALLINT = "smallint"
    INTEGER = "integer"
    BIGINT = "bigint"
    FLOAT = "double precision"
    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TIMESTAMPTZ = "timestamptz"
    JSON = "json"

    def __str__(self) -> str:
        return self.value


_ALIASES: dict[str, ColumnKind] = {
    "text": ColumnKind.TEXT,
    "string": ColumnKind.TEXT,
    "varchar": ColumnKind.VARCHAR,
    "character varying": ColumnKind.VARCHAR,
    "smallint": ColumnKind.SMALLINT,
    "int2": ColumnKind.SMALLINT,
    "integer": ColumnKind.INTEGER,
    "int": ColumnKind.INTEGER,
    "int4": ColumnKind.INTEGER,
    "bigint": ColumnKind.BIGINT,
    "int8": ColumnKind.BIGINT,
    "double precision": ColumnKind.FLOAT,
    "double": ColumnKind.FLOAT,
    "float": ColumnKind.FLOAT,
    "float8": ColumnKind.FLOAT,
    "numeric": ColumnKind.NUMERIC,
    "decimal": ColumnKind.NUMERIC,
    "boolean": ColumnKind.BOOLEAN,
    "bool": ColumnKind.BOOLEAN,
    "date": ColumnKind.DATE,
    "timestamp": ColumnKind.TIMESTAMP,
    "timestamp without time zone": ColumnKind.TIMESTAMP,
    "timestamptz": ColumnKind.TIMESTAMPTZ,
    "timestamp with time zone": ColumnKind.TIMESTAMPTZ,
    "json": ColumnKind.JSON,
    "jsonb": ColumnKind.JSON,
}

_INT_RANGES = {
    ColumnKind.SMALLINT: (-(2**15), 2**15 - 1),
    ColumnKind.INTEGER: (-(2**31), 2**31 - 1),
    ColumnKind.BIGINT: (-(2**63), 2**63 - 1),
}
_MAX_NUMERIC_PRECISION = 1000

_TYPE_RE = re.compile(
    r"""^\s*(?P<name>[a-z][a-z0-9 ]*?)\s*
        (?:\(\s*(?P<p1>\d+)\s*(?:,\s*(?P<p2>\d+)\s*)?\))?
        (?P<mods>(?:\s+(?:not\s+null|null|primary\s+key))*)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_MODIFIER_RE = re.compile(r"not\s+null|null|primary\s+key", re.IGNORECASE)
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


class FieldValueError(SourceError):
    """A source value that cannot be written to its column.

    The message names the record (``record``: where it is, e.g. ``orders.csv line 5
    (order_id='17')``, when known), the column and the value, and says what is wrong
    in words: ``orders.csv line 5 (order_id='17'): column 'quantity': 'abc' is not an
    integer``. ``reason`` is a predicate (``is not an integer``, ``does not fit
    numeric(12,2) ...``); for a missing value (``None``) it stands alone.
    """

    def __init__(self, column: str, value: object, reason: str, *, record: str = "") -> None:
        self.column = column
        self.value = value
        self.reason = reason
        self.record = record
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        text = f"column {column!r}: " + (reason if value is None else f"{shown} {reason}")
        super().__init__(f"{record}: {text}" if record else text)

    def at(self, record: str) -> FieldValueError:
        """The same error, naming the record it is in."""
        return FieldValueError(self.column, self.value, self.reason, record=record)


class _Reject(Exception):
    """Internal: an adapter refused a value; the message is the reason."""


@dataclass(frozen=True)
class ColumnType:
    """A parsed column type: a `ColumnKind` and its parameters."""

    kind: ColumnKind
    length: int | None = None
    """VARCHAR: maximum number of characters."""
    precision: int | None = None
    """NUMERIC: total number of digits (None: unconstrained)."""
    scale: int | None = None
    """NUMERIC: digits after the decimal point."""

    def __post_init__(self) -> None:
        if self.kind is ColumnKind.VARCHAR and (self.length is None or self.length < 1):
            raise ConfigError("varchar needs a positive length, e.g. varchar(255)")
        if self.kind is ColumnKind.NUMERIC and self.precision is not None:
            scale = self.scale or 0
            if not 1 <= self.precision <= _MAX_NUMERIC_PRECISION or scale > self.precision:
                raise ConfigError(
                    f"invalid numeric({self.precision},{scale}): need 1 <= precision <= "
                    f"{_MAX_NUMERIC_PRECISION} and scale <= precision"
                )

    @classmethod
    def parse(cls, text: str) -> ColumnType:
        """Parse ``varchar(255)``, ``numeric(12,2)``, ``timestamptz`` ... (no modifiers)."""
        column_type, nullable, primary_key = parse_column_spec(text)
        if not nullable or primary_key:
            raise ConfigError(f"column type {text!r}: modifiers are not allowed here")
        return column_type

    def __str__(self) -> str:
        if self.kind is ColumnKind.VARCHAR:
            return f"varchar({self.length})"
        if self.kind is ColumnKind.NUMERIC and self.precision is not None:
            return f"numeric({self.precision},{self.scale or 0})"
        return self.kind.value

    def to_sqlalchemy(self) -> TypeEngine[Any]:
        """The SQLAlchemy type for this column (JSON is JSONB on PostgreSQL)."""
        import sqlalchemy as sa
        from sqlalchemy.dialects import postgresql

        kind = self.kind
        if kind is ColumnKind.TEXT:
            return sa.Text()
        if kind is ColumnKind.VARCHAR:
            return sa.String(self.length)
        if kind is ColumnKind.SMALLINT:
            return sa.SmallInteger()
        if kind is ColumnKind.INTEGER:
            return sa.Integer()
        if kind is ColumnKind.BIGINT:
            return sa.BigInteger()
        if kind is ColumnKind.FLOAT:
            return sa.Double()
        if kind is ColumnKind.NUMERIC:
            from etl_framework.load.sql.sqlite_decimal import SqliteDecimal

            scale = self.scale if self.precision is not None else None
            # SQLite's NUMERIC holds binary floats: exact decimals get their own column type
            return sa.Numeric(self.precision, scale, asdecimal=True).with_variant(
                SqliteDecimal(self.precision, scale), "sqlite"
            )
        if kind is ColumnKind.BOOLEAN:
            return sa.Boolean()
        if kind is ColumnKind.DATE:
            return sa.Date()
        if kind is ColumnKind.TIMESTAMP:
            return sa.DateTime(timezone=False)
        if kind is ColumnKind.TIMESTAMPTZ:
            return sa.DateTime(timezone=True)
        return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

    def adapter(self) -> Callable[[Any], Any]:
        """A function value -> adapted value; raises `_Reject` with the reason."""
        return _make_adapter(self)

    def adapt(self, value: Any, column: str = "?") -> Any:
        """``value`` adapted to this type; `FieldValueError` when impossible."""
        try:
            return self.adapter()(value)
        except _Reject as exc:
            raise FieldValueError(column, value, str(exc)) from None


def parse_column_spec(text: str) -> tuple[ColumnType, bool, bool]:
    """``"varchar(10) not null"`` -> (ColumnType, nullable, primary_key)."""
    if not isinstance(text, str):
        raise ConfigError(f"column type must be a string, not {type(text).__name__}")
    match = _TYPE_RE.match(text)
    if match is None:
        raise ConfigError(f"invalid column type {text!r}")
    name = " ".join(match["name"].lower().split())
    kind = _ALIASES.get(name)
    if kind is None:
        known = ", ".join(sorted(_ALIASES))
        raise ConfigError(f"unknown column type {name!r} in {text!r}: known types are {known}")
    p1 = int(match["p1"]) if match["p1"] is not None else None
    p2 = int(match["p2"]) if match["p2"] is not None else None
    if kind is ColumnKind.VARCHAR:
        if p2 is not None:
            raise ConfigError(f"invalid column type {text!r}: varchar takes one parameter")
        column_type = ColumnType(kind, length=p1)
    elif kind is ColumnKind.NUMERIC:
        column_type = ColumnType(kind, precision=p1, scale=(p2 or 0) if p1 is not None else None)
    else:
        if p1 is not None:
            raise ConfigError(f"invalid column type {text!r}: {kind} takes no parameters")
        column_type = ColumnType(kind)
    nullable, primary_key = _parse_modifiers(match["mods"] or "", text)
    return column_type, nullable, primary_key


def _parse_modifiers(text: str, where: str) -> tuple[bool, bool]:
    nullable, primary_key = True, False
    rest = _MODIFIER_RE.sub("", text)
    if rest.strip():
        raise ConfigError(f"invalid column modifiers {text!r} in {where!r}")
    for modifier in _MODIFIER_RE.findall(text):
        words = modifier.lower().split()
        if words == ["not", "null"]:
            nullable = False
        elif words == ["primary", "key"]:
            primary_key = True
    return nullable and not primary_key, primary_key


@dataclass(frozen=True)
class Field:
    """One mapped column: where its value comes from, its name and type."""

    source_path: str
    target_column: str
    column_type: ColumnType | str
    nullable: bool = True
    primary_key: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.source_path, str) or not self.source_path:
            raise ConfigError(f"invalid source path {self.source_path!r}")
        validate_identifier(self.target_column, "column name")
        if isinstance(self.column_type, str):
            column_type, nullable, primary_key = parse_column_spec(self.column_type)
            object.__setattr__(self, "column_type", column_type)
            object.__setattr__(self, "nullable", self.nullable and nullable)
            object.__setattr__(self, "primary_key", self.primary_key or primary_key)
        elif not isinstance(self.column_type, ColumnType):
            raise ConfigError(
                f"column {self.target_column!r}: column_type must be a string or ColumnType"
            )
        if self.primary_key:
            object.__setattr__(self, "nullable", False)

    @property
    def type(self) -> ColumnType:
        """The parsed column type (``column_type`` is always parsed after init)."""
        assert isinstance(self.column_type, ColumnType)
        return self.column_type

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.source_path.split(PATH_SEPARATOR))


FieldSpec = tuple[str, str, str] | tuple[str, str, str, str] | Sequence[str] | Field


@dataclass(frozen=True)
class FieldMapping:
    """An ordered list of `Field` s; turns source records into row tuples."""

    fields: tuple[Field, ...]
    _extractor: Callable[[Mapping[str, Any]], tuple[Any, ...]] = dc_field(
        init=False, repr=False, compare=False
    )
    _variants: dict[Any, Callable[[Mapping[str, Any]], tuple[Any, ...]]] = dc_field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if not self.fields:
            raise ConfigError("a field mapping needs at least one field")
        seen: set[str] = set()
        for f in self.fields:
            lowered = f.target_column.lower()
            if lowered in seen:
                raise ConfigError(f"target column {f.target_column!r} is mapped twice")
            seen.add(lowered)
        object.__setattr__(self, "_extractor", _compile_extractor(self.fields))

    @classmethod
    def from_tuples(cls, specs: Iterable[FieldSpec]) -> FieldMapping:
        """Build from ``(source_path, target_column, column_type[, modifiers])`` tuples."""
        fields: list[Field] = []
        for spec in specs:
            if isinstance(spec, Field):
                fields.append(spec)
                continue
            items = list(spec)
            if len(items) not in (3, 4) or not all(isinstance(i, str) for i in items):
                raise ConfigError(
                    f"invalid field spec {spec!r}: expected "
                    "(source_path, target_column, column_type[, modifiers]) strings"
                )
            type_text = items[2] if len(items) == 3 else f"{items[2]} {items[3]}"
            fields.append(Field(items[0], items[1], type_text))
        return cls(tuple(fields))

    @property
    def columns(self) -> tuple[str, ...]:
        """Target column names, in mapping order (the order of `extract`'s tuple)."""
        return tuple(f.target_column for f in self.fields)

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(f.target_column for f in self.fields if f.primary_key)

    def field(self, column: str) -> Field:
        for f in self.fields:
            if f.target_column == column:
                return f
        raise ConfigError(
            f"no mapped column {column!r}: mapped columns are " + ", ".join(self.columns)
        )

    def extract(self, record: Mapping[str, Any]) -> tuple[Any, ...]:
        """The row tuple for ``record``: values found by path, adapted to column types."""
        return self._extractor(record)

    def rows(self, records: Iterable[Mapping[str, Any]]) -> MappedRows:
        """Lazily `extract` every record; a bad value's error names its record.

        The record is named by where it is (a `LocatedRecord` from a file or API
        source: ``orders.csv line 5``), else by its ordinal number in ``records``,
        followed by its primary-key values from the source when the mapping has keys.

        The result is an iterator of row tuples (`MappedRows`); a loader that gets it
        unstarted may instead run its own loop over the records (`MappedRows.take`),
        e.g. PostgreSQL's COPY, which extracts and writes each row in one step.
        """
        return MappedRows(self, records)

    def _iter_rows(self, records: Iterable[Mapping[str, Any]]) -> Iterator[tuple[Any, ...]]:
        extract = self._extractor
        for number, record in enumerate(records, start=1):
            try:
                row = extract(record)
            except SourceError as exc:
                raise self.record_error(exc, record, number) from None
            yield row

    def record_error(self, exc: SourceError, record: Any, number: int) -> SourceError:
        """``exc`` (raised extracting ``record``, the ``number``-th), naming the record."""
        where = self.describe_record(record, number)
        if isinstance(exc, FieldValueError):
            return exc.at(where)
        return SourceError(f"{where}: {exc}")

    def extractor(
        self,
        *,
        rounded_by_target: Iterable[str] = (),
        wrap_json: Callable[[Any], Any] | None = None,
    ) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
        """An `extract` function for a loader that writes the rows straight into a
        database (generated once per variant and cached).

        ``rounded_by_target``: numeric(p,s) columns whose target column has exactly
        that precision and scale, so the database rounds half away from zero to ``s``
        places on input, as `extract` does (PostgreSQL: ``numeric_in`` / ``numeric_recv``
        with the column's typmod). Their Decimal values are passed on unrounded when
        they cannot overflow after rounding (``|v| < 10**(p-s) - 0.5 * 10**-s``); any
        other value goes through the full adapter and its checks, so what is refused
        and the error are the same. ``wrap_json``: applied to each non-NULL JSON value
        (e.g. psycopg's ``Jsonb``).
        """
        rounded = frozenset(rounded_by_target)
        key = (rounded, wrap_json)
        found = self._variants.get(key)
        if found is None:
            found = _compile_extractor(
                self.fields,
                rounded={i for i, f in enumerate(self.fields) if f.target_column in rounded},
                wrap_json=wrap_json,
            )
            self._variants[key] = found
        return found

    def describe_record(self, record: Any, number: int) -> str:
        """``orders.csv line 5 (order_id='17')`` / ``record 12 (id=3)``: a record, named."""
        where = record.location() if isinstance(record, LocatedRecord) else f"record {number}"
        if self.primary_key and isinstance(record, Mapping):
            keys = ", ".join(
                f"{f.target_column}={_lookup(record, f.path)!r}"
                for f in self.fields
                if f.primary_key
            )
            where += f" ({keys})"
        return where


class MappedRows(Iterator[tuple[Any, ...]]):
    """The row tuples of `FieldMapping.rows`: an iterator, which a loader may also
    consume in one loop of its own (`take`) instead of row by row."""

    __slots__ = ("_records", "_rows", "mapping")

    def __init__(self, mapping: FieldMapping, records: Iterable[Mapping[str, Any]]) -> None:
        self.mapping = mapping
        self._records: Iterable[Mapping[str, Any]] | None = records
        self._rows: Iterator[tuple[Any, ...]] | None = None

    def __iter__(self) -> MappedRows:
        return self

    def __next__(self) -> tuple[Any, ...]:
        if self._rows is None:
            records, self._records = self._records, None
            self._rows = self.mapping._iter_rows(records if records is not None else ())
        return next(self._rows)

    def take(self, columns: Sequence[str]) -> Iterator[Mapping[str, Any]] | None:
        """The source records, for a loader's own loop, if no row was read yet and the
        mapping's columns are ``columns``; None otherwise (iterate instead). The loader
        extracts each record (`FieldMapping.extractor`), numbering them from 1 for
        `FieldMapping.record_error`. Afterwards this iterator is exhausted."""
        if self._records is None or tuple(columns) != self.mapping.columns:
            return None
        records, self._records = self._records, None
        self._rows = iter(())
        return iter(records)


# --- value lookup ------------------------------------------------------------


def _lookup(record: Any, path: tuple[str, ...]) -> Any:
    value = record
    for segment in path:
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = value.get(segment)
        elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            try:
                value = value[int(segment)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return value


def _compile_extractor(
    fields: tuple[Field, ...],
    *,
    rounded: Collection[int] = (),
    wrap_json: Callable[[Any], Any] | None = None,
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """Build ``extract(record) -> tuple`` for the fields, as straight-line code.

    This runs once per row of every load, so it is generated like dataclasses
    generates ``__init__``: one tuple expression per row, where a value that already
    has the column's Python type passes an inline type check instead of a function
    call. Only variable names appear in the generated text; keys, paths, column
    names and bounds are bound in its namespace, so nothing from config becomes code.
    """
    n = len(fields)
    paths = [f.path for f in fields]
    columns = [f.target_column for f in fields]
    pairs = [(f.type.adapter(), f.target_column) for f in fields]
    namespace: dict[str, Any] = {
        "_Reject": _Reject,
        "_adapt_one_by_one": _adapt_one_by_one,
        "_not_null": _not_null_error,
        "pairs": pairs,
        "columns": columns,
        "str": str,
        "int": int,
        "float": float,
        "isfinite": math.isfinite,
        "bool": bool,
        "type": type,
        "len": len,
        "Decimal": decimal.Decimal,
        "date": dt.date,
        "datetime": dt.datetime,
        "UTC": UTC,
        "InvalidOperation": decimal.InvalidOperation,
    }
    names = [f"v{i}" for i in range(n)]
    lines = ["def extract(record):"]
    if all(len(p) == 1 for p in paths) and n > 1:
        # itemgetter is one C call per record; a missing key falls back to the slow path.
        namespace["getter"] = operator.itemgetter(*(p[0] for p in paths))
        namespace["slow_values"] = _slow_values(paths)
        lines += [
            "    try:",
            f"        {', '.join(names)}, = getter(record)",
            "    except (KeyError, TypeError):",
            f"        {', '.join(names)}, = slow_values(record)",
        ]
    else:
        namespace["slow_values"] = _slow_values(paths)
        lines.append(f"    {', '.join(names)}, = slow_values(record)")
    expressions = []
    for i, f in enumerate(fields):
        namespace[f"a{i}"] = pairs[i][0]
        expression = _fast_expression(f.type, f"v{i}", f"a{i}", i, namespace, i in rounded)
        if wrap_json is not None and f.type.kind is ColumnKind.JSON:
            expression = f"(None if (j{i} := {expression}) is None else wrap_json(j{i}))"
        expressions.append(expression)
    namespace["wrap_json"] = wrap_json
    lines += [
        "    try:",
        f"        row = ({', '.join(expressions)},)",
        # InvalidOperation: a NaN compared in a numeric fast check; the adapters say why
        "    except (_Reject, InvalidOperation):",
        f"        row = _adapt_one_by_one(pairs, ({', '.join(names)},))",
    ]
    if wrap_json is not None:
        wrapped = [i for i, f in enumerate(fields) if f.type.kind is ColumnKind.JSON]
        namespace["_wrap_json_row"] = _wrap_json_row
        namespace["wrapped"] = wrapped
        if wrapped:
            # the slow path returned plain values: wrap them as the fast path does
            lines[-1] = (
                f"        row = _wrap_json_row(_adapt_one_by_one(pairs, ({', '.join(names)},)),"
                " wrapped, wrap_json)"
            )
    required = [i for i, f in enumerate(fields) if not f.nullable]
    if required:
        condition = " or ".join(f"row[{i}] is None" for i in required)
        lines += [f"    if {condition}:", "        _not_null(row, columns, required)"]
        namespace["required"] = required
    lines.append("    return row")
    exec("\n".join(lines), namespace)  # generated from variable names only, see above
    extract: Callable[[Mapping[str, Any]], tuple[Any, ...]] = namespace["extract"]
    return extract


def _fast_expression(
    column_type: ColumnType,
    value: str,
    adapter: str,
    i: int,
    namespace: dict[str, Any],
    rounded: bool = False,
) -> str:
    """``value if <already right> else adapter(value)`` for one column.

    ``rounded``: a numeric(p,s) column whose target rounds to s places itself, so a
    Decimal that cannot overflow after rounding is passed on as it is.
    """
    kind = column_type.kind
    if kind is ColumnKind.TEXT:
        check = f"type({value}) is str"
    elif kind is ColumnKind.VARCHAR:
        namespace[f"n{i}"] = column_type.length
        check = f"type({value}) is str and len({value}) <= n{i}"
    elif kind in _INT_RANGES:
        namespace[f"lo{i}"], namespace[f"hi{i}"] = _INT_RANGES[kind]
        check = f"type({value}) is int and lo{i} <= {value} <= hi{i}"
    elif kind is ColumnKind.FLOAT:
        check = f"type({value}) is float and isfinite({value})"
    elif kind is ColumnKind.BOOLEAN:
        check = f"type({value}) is bool"
    elif kind is ColumnKind.DATE:
        check = f"type({value}) is date"
    elif kind is ColumnKind.TIMESTAMPTZ:
        check = f"type({value}) is datetime and {value}.tzinfo is UTC"
    elif kind is ColumnKind.TIMESTAMP:
        check = f"type({value}) is datetime and {value}.tzinfo is None"
    elif kind is ColumnKind.NUMERIC and rounded and column_type.precision is not None:
        scale = column_type.scale or 0
        # the largest magnitude that rounds (half away from zero) to at most p-s digits
        # before the point is just below 10**(p-s) - 0.5 * 10**-s
        exact = decimal.Context(prec=_MAX_NUMERIC_PRECISION + 10)
        bound = exact.subtract(
            exact.power(10, column_type.precision - scale), decimal.Decimal(5).scaleb(-scale - 1)
        )
        namespace[f"lo{i}"], namespace[f"hi{i}"] = -bound, bound
        check = f"type({value}) is Decimal and lo{i} < {value} < hi{i}"
    else:  # NUMERIC is rounded, JSON normalised: always adapt
        return f"{adapter}({value})"
    # every adapter passes None on as it is: a NULL needs no call either
    return f"({value} if {check} or {value} is None else {adapter}({value}))"


def _wrap_json_row(
    row: tuple[Any, ...], positions: list[int], wrap: Callable[[Any], Any]
) -> tuple[Any, ...]:
    values = list(row)
    for i in positions:
        if values[i] is not None:
            values[i] = wrap(values[i])
    return tuple(values)


def _slow_values(paths: list[tuple[str, ...]]) -> Callable[[Any], list[Any]]:
    def values(record: Any) -> list[Any]:
        if not isinstance(record, Mapping):
            raise SourceError(f"expected a mapping record, got {type(record).__name__}")
        return [_lookup(record, p) for p in paths]

    return values


def _not_null_error(row: tuple[Any, ...], columns: list[str], required: list[int]) -> None:
    for i in required:
        if row[i] is None:
            raise FieldValueError(columns[i], None, "has no value, but the column is NOT NULL")


def _adapt_one_by_one(
    pairs: list[tuple[Callable[[Any], Any], str]], values: Sequence[Any]
) -> tuple[Any, ...]:
    out = []
    for (adapt, column), value in zip(pairs, values, strict=True):
        try:
            out.append(adapt(value))
        except _Reject as exc:
            raise FieldValueError(column, value, str(exc)) from None
    return tuple(out)


# --- adapters ----------------------------------------------------------------
# Each adapter returns quickly when the value already has the right Python type:
# this runs once per value of every row.


def _make_adapter(column_type: ColumnType) -> Callable[[Any], Any]:
    kind = column_type.kind
    if kind is ColumnKind.TEXT:
        return _adapt_text
    if kind is ColumnKind.VARCHAR:
        return _varchar_adapter(column_type.length or 0)
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return _int_adapter(low, high, kind)
    if kind is ColumnKind.FLOAT:
        return _adapt_float
    if kind is ColumnKind.NUMERIC:
        return _numeric_adapter(column_type.precision, column_type.scale)
    if kind is ColumnKind.BOOLEAN:
        return _adapt_bool
    if kind is ColumnKind.DATE:
        return _adapt_date
    if kind is ColumnKind.TIMESTAMP:
        return _adapt_timestamp
    if kind is ColumnKind.TIMESTAMPTZ:
        return _adapt_timestamptz
    return _adapt_json


def _adapt_text(value: Any) -> str | None:
    if type(value) is str or value is None:
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=_json_default, separators=(",", ":"))
    if isinstance(value, bytes):
        raise _Reject("is bytes, not text")
    return str(value)


def _varchar_adapter(length: int) -> Callable[[Any], str | None]:
    def adapt(value: Any) -> str | None:
        text = _adapt_text(value)
        if text is not None and len(text) > length:
            raise _Reject(f"has {len(text)} characters, more than varchar({length}) holds")
        return text

    return adapt


def _int_adapter(low: int, high: int, kind: ColumnKind) -> Callable[[Any], int | None]:
    def adapt(value: Any) -> int | None:
        if type(value) is int:
            number = value
        elif value is None:
            return None
        elif isinstance(value, bool):
            raise _Reject("is a boolean, not an integer")
        elif isinstance(value, int):
            number = int(value)
        elif isinstance(value, (float, decimal.Decimal)):
            if not math.isfinite(value) or value != int(value):
                raise _Reject("is not a whole number")
            number = int(value)
        elif isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            try:
                number = int(text)
            except ValueError:
                try:
                    as_decimal = decimal.Decimal(text)
                except decimal.InvalidOperation:
                    raise _Reject("is not an integer") from None
                if not as_decimal.is_finite() or as_decimal != int(as_decimal):
                    raise _Reject("is not a whole number") from None
                number = int(as_decimal)
        else:
            raise _Reject(f"is a {type(value).__name__}, not an integer")
        if not low <= number <= high:
            raise _Reject(f"is out of range for {kind} ({low} to {high})")
        return number

    return adapt


def _adapt_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _Reject("is a boolean, not a number")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise _Reject("is not a number") from None
    elif isinstance(value, (int, float, decimal.Decimal)):
        try:
            number = float(value)
        except OverflowError:
            raise _Reject("is out of range for double precision") from None
    else:
        raise _Reject(f"is a {type(value).__name__}, not a number")
    # PostgreSQL stores NaN/Infinity but SQLite turns NaN into NULL (past NOT NULL):
    # refused everywhere, so a load means the same on every backend.
    if not math.isfinite(number):
        raise _Reject("is not a finite number (NaN and infinity are refused)")
    return number


def _numeric_adapter(precision: int | None, scale: int | None) -> Callable[[Any], Any]:
    quantum = decimal.Decimal(1).scaleb(-(scale or 0)) if precision is not None else None
    limit = (decimal.Decimal(10) ** (precision - (scale or 0))) if precision is not None else None
    context = decimal.Context(prec=_MAX_NUMERIC_PRECISION + 10, rounding=decimal.ROUND_HALF_UP)

    low = -limit if limit is not None else None
    invalid = decimal.InvalidOperation
    too_big = (
        f"does not fit numeric({precision},{scale or 0}) (at most "
        f"{(precision or 0) - (scale or 0)} digits before the decimal point)"
    )

    def adapt(value: Any) -> decimal.Decimal | None:
        if type(value) is decimal.Decimal and quantum is not None:
            # the common case, kept short: quantize raises for NaN/Infinity
            try:
                number = value.quantize(quantum, context=context)
                if low < number < limit:  # type: ignore[operator]
                    return number
            except invalid:
                raise _Reject("is not a finite number") from None
            raise _Reject(too_big)
        if value is None:
            return None
        if type(value) is decimal.Decimal:
            number = value
        elif isinstance(value, bool):
            raise _Reject("is a boolean, not a number")
        elif isinstance(value, int):
            number = decimal.Decimal(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _Reject("is not a finite number")
            # repr() is the shortest string that round-trips: 0.1 -> Decimal("0.1")
            number = decimal.Decimal(repr(value))
        elif isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            try:
                number = decimal.Decimal(text)
            except decimal.InvalidOperation:
                raise _Reject("is not a number") from None
        elif isinstance(value, decimal.Decimal):
            number = value
        else:
            raise _Reject(f"is a {type(value).__name__}, not a number")
        if not number.is_finite():
            raise _Reject("is not a finite number")
        if quantum is not None and limit is not None:
            number = number.quantize(quantum, context=context)
            if abs(number) >= limit:
                raise _Reject(too_big)
        return number

    return adapt


def _adapt_bool(value: Any) -> bool | None:
    if type(value) is bool or value is None:
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _Reject("is not a boolean (true/false, yes/no, 1/0)")


_NOT_A_DATE = "is not a date (YYYY-MM-DD)"
_NOT_A_TIMESTAMP = "is not a timestamp (YYYY-MM-DD HH:MM:SS, ISO 8601)"


def _parse_datetime_text(text: str, problem: str = _NOT_A_TIMESTAMP) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    if len(text) == 8 and text.isdigit():
        try:
            return dt.datetime.strptime(text, "%Y%m%d")
        except ValueError:
            pass
    raise _Reject(problem)


def _from_epoch(value: Any) -> dt.datetime:
    if isinstance(value, bool) or not math.isfinite(value):
        raise _Reject("is not a timestamp")
    try:
        return dt.datetime.fromtimestamp(float(value), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise _Reject("is out of range as epoch seconds") from None


def _adapt_date(value: Any) -> dt.date | None:
    if type(value) is dt.date or value is None:
        return value
    if isinstance(value, dt.datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).date()
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        parsed = _parse_datetime_text(text, _NOT_A_DATE)
        return (parsed.astimezone(UTC) if parsed.tzinfo else parsed).date()
    if isinstance(value, int) and not isinstance(value, bool):
        return _date_from_int(value)
    raise _Reject(f"is a {type(value).__name__}, not a date")


def _date_from_int(value: int) -> dt.date:
    """``20240115`` -> 2024-01-15, like the string ``"20240115"``.

    Any other integer is refused rather than read as epoch seconds: 20240115 seconds
    after 1970 is 1970-08-23, a silent wrong date.
    """
    if 10_000_000 <= value <= 99_999_999:
        try:
            return dt.datetime.strptime(str(value), "%Y%m%d").date()
        except ValueError:
            raise _Reject(_NOT_A_DATE) from None
    raise _Reject(
        "is not a date (an integer must be YYYYMMDD; epoch seconds need a timestamp column)"
    )


def _to_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        text = value.strip()
        return _parse_datetime_text(text) if text else None
    if isinstance(value, (int, float)):
        return _from_epoch(value)
    raise _Reject(f"is a {type(value).__name__}, not a timestamp")


def _adapt_timestamptz(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if type(value) is dt.datetime and value.tzinfo is UTC:
        return value
    moment = _to_datetime(value)
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _adapt_timestamp(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if type(value) is dt.datetime and value.tzinfo is None:
        return value
    moment = _to_datetime(value)
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        raise TypeError("bytes are not JSON")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _adapt_json(value: Any) -> Any:
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise _Reject("is NaN or infinity, not JSON")
        return value
    try:
        # A round trip gives plain dicts/lists/str/numbers that every driver can encode.
        return json.loads(json.dumps(value, default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise _Reject(f"is not JSON serialisable: {exc}") from None


__all__ = [
    "PATH_SEPARATOR",
    "ColumnKind",
    "ColumnType",
    "Field",
    "FieldMapping",
    "FieldValueError",
    "MappedRows",
    "parse_column_spec",
]
