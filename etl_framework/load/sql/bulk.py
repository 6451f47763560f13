"""Bulk-loading row tuples into a table, with a fast path per dialect.

- PostgreSQL (psycopg 3): binary ``COPY table (cols) FROM STDIN``, rows streamed
  through ``Copy.write_row``; psycopg sends its buffer as it fills, so memory does
  not grow with the number of rows. The binary wire types are the table's own
  column types (read from the catalog), not the mapping's: the schema check accepts
  compatible types (an ``integer`` mapping into a ``bigint`` column, ``float`` into
  ``real``, ``json`` into ``json`` or ``jsonb``) and binary COPY needs the exact one.
- Every other dialect (SQLite included): DBAPI ``executemany`` of a parameterised
  INSERT in batches, inside the caller's transaction (for SQLite, one transaction
  is what makes executemany fast). Values go through the SQLAlchemy type's bind
  processor, so what SQLAlchemy reads back is what it would have written.

Rows are tuples in the order of ``columns`` (what `FieldMapping.extract` returns),
already adapted to the column types. No value is ever part of SQL text.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from etl_framework.exceptions import SourceError
from etl_framework.identifiers import quote, quote_table, validate_identifier
from etl_framework.mapping import ColumnKind, ColumnType, MappedRows

if TYPE_CHECKING:
    from etl_framework.mapping import FieldMapping

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Dialect

DEFAULT_BATCH_SIZE = 10_000
"""Rows per executemany call and per progress callback."""

ProgressCallback = Callable[[int], None]

# PostgreSQL type names psycopg's binary dumpers are looked up by.
_PG_TYPES: dict[ColumnKind, str] = {
    ColumnKind.TEXT: "text",
    ColumnKind.VARCHAR: "varchar",
    ColumnKind.SMALLINT: "int2",
    ColumnKind.INTEGER: "int4",
    ColumnKind.BIGINT: "int8",
    ColumnKind.FLOAT: "float8",
    ColumnKind.NUMERIC: "numeric",
    ColumnKind.BOOLEAN: "bool",
    ColumnKind.DATE: "date",
    ColumnKind.TIMESTAMP: "timestamp",
    ColumnKind.TIMESTAMPTZ: "timestamptz",
    ColumnKind.JSON: "jsonb",
}


def uses_copy(dialect: Dialect) -> bool:
    """Whether `bulk_insert` streams with COPY (PostgreSQL through psycopg 3)."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def copy_sql(dialect: Dialect, table: str, columns: Sequence[str]) -> str:
    """The COPY statement of `copy_rows`."""
    cols = ", ".join(quote(dialect, validate_identifier(c, "column name")) for c in columns)
    return f"COPY {quote_table(dialect, table)} ({cols}) FROM STDIN (FORMAT BINARY)"


def insert_sql(dialect: Dialect, table: str, columns: Sequence[str]) -> str:
    """The parameterised INSERT of `executemany_rows` (in the DBAPI's paramstyle)."""
    style = dialect.paramstyle
    if style == "qmark":
        placeholders = ", ".join("?" for _ in columns)
    elif style == "format":
        placeholders = ", ".join("%s" for _ in columns)
    elif style == "numeric":
        placeholders = ", ".join(f":{i + 1}" for i in range(len(columns)))
    else:  # named / pyformat: use positional names p0, p1...
        placeholders = ", ".join(
            (f"%(p{i})s" if style == "pyformat" else f":p{i}") for i in range(len(columns))
        )
    cols = ", ".join(quote(dialect, validate_identifier(c, "column name")) for c in columns)
    return f"INSERT INTO {quote_table(dialect, table)} ({cols}) VALUES ({placeholders})"


def bulk_insert(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    types: Sequence[ColumnType],
    rows: Iterable[Sequence[Any]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: ProgressCallback | None = None,
) -> int:
    """Insert ``rows`` into ``table`` within the caller's transaction; return the count."""
    if uses_copy(conn.dialect):
        return copy_rows(
            conn, table, columns, types, rows, batch_size=batch_size, on_batch=on_batch
        )
    return executemany_rows(
        conn, table, columns, types, rows, batch_size=batch_size, on_batch=on_batch
    )


def copy_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    types: Sequence[ColumnType],
    rows: Iterable[Sequence[Any]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: ProgressCallback | None = None,
) -> int:
    """psycopg 3 binary COPY FROM STDIN on the SQLAlchemy connection's transaction.

    Rows from `FieldMapping.rows` (a `MappedRows` not yet started) take the fused
    path: one loop extracts each source record with an extractor generated for this
    table (`FieldMapping.extractor`: JSON wrapped for psycopg, numeric(p,s) rounding
    left to PostgreSQL where the column's own typmod is exactly (p,s)) and formats it
    into the COPY buffer, with no generator or batch list in between.
    """
    from psycopg.types.json import Jsonb

    raw = conn.connection.driver_connection
    statement = copy_sql(conn.dialect, table, columns)
    table_types = column_types(conn, table)
    wire_types: list[int | str] = [
        table_types[c][0] if c in table_types else _PG_TYPES[t.kind]
        for c, t in zip(columns, types, strict=True)
    ]
    records = rows.take(columns) if isinstance(rows, MappedRows) else None
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.set_types(wire_types)
        if records is not None:
            assert isinstance(rows, MappedRows)
            rounded = [
                c
                for c, t in zip(columns, types, strict=True)
                if c in table_types and _rounds_like(t, *table_types[c])
            ]
            extract = rows.mapping.extractor(rounded_by_target=rounded, wrap_json=Jsonb)
            return _copy_records(copy, records, extract, rows.mapping, batch_size, on_batch)
        return _copy_row_tuples(copy, rows, types, batch_size, on_batch, Jsonb)


def _copy_row_tuples(
    copy: Any,
    rows: Iterable[Sequence[Any]],
    types: Sequence[ColumnType],
    batch_size: int,
    on_batch: ProgressCallback | None,
    jsonb: Any,
) -> int:
    """Row tuples from any iterable (not a `MappedRows`), one by one: no batch list."""
    json_positions = [i for i, t in enumerate(types) if t.kind is ColumnKind.JSON]
    write_row = copy.write_row
    iterator = iter(rows)
    count = 0
    while True:
        number = count
        for row in itertools.islice(iterator, batch_size):
            number += 1
            write_row(_wrap_json(row, json_positions, jsonb) if json_positions else row)
        if number == count:
            return count
        if on_batch is not None:
            on_batch(number - count)
        count = number


def _copy_records(
    copy: Any,
    records: Iterator[Any],
    extract: Callable[[Any], tuple[Any, ...]],
    mapping: FieldMapping,
    batch_size: int,
    on_batch: ProgressCallback | None,
) -> int:
    """The fused loop: record -> row tuple -> COPY buffer, per record.

    With psycopg's binary formatter (checked, else ``Copy.write_row``) each row is
    formatted straight into the formatter's buffer by psycopg's own C row formatter
    and the buffer is handed to the copy when it exceeds psycopg's buffer size, as
    ``Copy.write_row`` does, without its two Python calls per row.
    """
    fast = _binary_row_writer(copy)
    islice = itertools.islice
    count = 0
    if fast is None:
        write_row = copy.write_row
        while True:
            number = count
            for record in islice(records, batch_size):
                number += 1
                try:
                    row = extract(record)
                except SourceError as exc:
                    raise mapping.record_error(exc, record, number) from None
                write_row(row)
            if number == count:
                return count
            if on_batch is not None:
                on_batch(number - count)
            count = number
    formatter, format_row, transformer, send, limit = fast
    buffer = formatter._write_buffer
    try:
        while True:
            number = count
            for record in islice(records, batch_size):
                number += 1
                try:
                    row = extract(record)
                except SourceError as exc:
                    raise mapping.record_error(exc, record, number) from None
                format_row(row, transformer, buffer)
                if len(buffer) > limit:
                    send(buffer)
                    buffer = bytearray()
                    formatter._write_buffer = buffer
            if number == count:
                return count
            if on_batch is not None:
                on_batch(number - count)
            count = number
    finally:
        formatter._write_buffer = buffer  # the copy's end sends what is left


def _binary_row_writer(copy: Any) -> tuple[Any, Any, Any, Any, int] | None:
    """(formatter, format_row_binary, transformer, send, buffer size) of psycopg's
    binary COPY, in the state ``Copy.write_row`` leaves it; None if this psycopg
    version is not laid out as expected (then ``write_row`` is used)."""
    try:
        from psycopg import _copy_base

        formatter = copy.formatter
        if not isinstance(formatter, _copy_base.BinaryFormatter) or type(
            formatter
        ).write_row is not (_copy_base.BinaryFormatter.write_row):
            return None
        format_row = _copy_base.format_row_binary
        limit = int(_copy_base.BUFFER_SIZE)
        send = copy._write
        transformer = formatter.transformer
        if not isinstance(formatter._write_buffer, bytearray):
            return None
        # what write_row does before its first row
        formatter._row_mode = True
        if not formatter._signature_sent:
            formatter._write_buffer += _copy_base._binary_signature
            formatter._signature_sent = True
    except (ImportError, AttributeError, TypeError):
        return None
    return formatter, format_row, transformer, send, limit


def _rounds_like(column_type: ColumnType, oid: int, typmod: int) -> bool:
    """The column is PostgreSQL ``numeric(P,s)`` with the mapping's scale s and P >= the
    mapping's precision, so it rounds every value to s places (half away from zero)
    exactly as the mapping does; the mapping's tighter bound is still checked first."""
    if column_type.kind is not ColumnKind.NUMERIC or column_type.precision is None:
        return False
    if oid != _NUMERIC_OID or typmod < _VARHDRSZ:
        return False  # unconstrained numeric keeps every digit: round in Python
    precision, scale = (typmod - _VARHDRSZ) >> 16, (typmod - _VARHDRSZ) & 0xFFFF
    return scale == (column_type.scale or 0) and precision >= column_type.precision


_NUMERIC_OID = 1700
_VARHDRSZ = 4


def column_types(conn: Connection, table: str) -> dict[str, tuple[int, int]]:
    """PostgreSQL: column name -> (type OID, typmod) of ``table`` (a domain's base type)."""
    rows = conn.execute(
        sa.text(
            "SELECT a.attname, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END, "
            "CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = CAST(:t AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        {"t": quote_table(conn.dialect, table)},
    ).all()
    return {str(name): (int(oid), int(typmod)) for name, oid, typmod in rows}


def _wrap_json(row: Sequence[Any], positions: list[int], wrapper: Any) -> list[Any]:
    values = list(row)
    for i in positions:
        if values[i] is not None:
            values[i] = wrapper(values[i])
    return values


def executemany_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    types: Sequence[ColumnType],
    rows: Iterable[Sequence[Any]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: ProgressCallback | None = None,
) -> int:
    """Batched DBAPI executemany of a parameterised INSERT."""
    dialect = conn.dialect
    processors = [t.to_sqlalchemy().dialect_impl(dialect).bind_processor(dialect) for t in types]
    active = [(i, p) for i, p in enumerate(processors) if p is not None]
    statement = insert_sql(dialect, table, columns)
    named = dialect.paramstyle in ("named", "pyformat")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    count = 0
    try:
        iterator = iter(rows)
        while True:
            batch = list(itertools.islice(iterator, batch_size))
            if not batch:
                break
            if active:
                batch = [_process(row, active) for row in batch]
            if named:
                params: list[Any] = [{f"p{i}": v for i, v in enumerate(row)} for row in batch]
            else:
                params = batch
            cursor.executemany(statement, params)
            count += len(batch)
            if on_batch is not None:
                on_batch(len(batch))
    finally:
        cursor.close()
    return count


def _process(row: Sequence[Any], active: Sequence[tuple[int, Callable[[Any], Any]]]) -> list[Any]:
    values = list(row)
    for i, processor in active:
        value = values[i]
        if value is not None:
            values[i] = processor(value)
    return values
