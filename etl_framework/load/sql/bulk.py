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
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from etl_framework.identifiers import quote, quote_table, validate_identifier
from etl_framework.mapping import ColumnKind, ColumnType

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
    """psycopg 3 binary COPY FROM STDIN on the SQLAlchemy connection's transaction."""
    from psycopg.types.json import Jsonb

    raw = conn.connection.driver_connection
    statement = copy_sql(conn.dialect, table, columns)
    json_positions = [i for i, t in enumerate(types) if t.kind is ColumnKind.JSON]
    table_types = column_type_oids(conn, table)
    wire_types: list[int | str] = [
        table_types.get(c, _PG_TYPES[t.kind]) for c, t in zip(columns, types, strict=True)
    ]
    count = 0
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.set_types(wire_types)
        write_row = copy.write_row
        iterator = iter(rows)
        while True:
            batch = list(itertools.islice(iterator, batch_size))
            if not batch:
                break
            if json_positions:
                batch = [_wrap_json(row, json_positions, Jsonb) for row in batch]
            for row in batch:
                write_row(row)
            count += len(batch)
            if on_batch is not None:
                on_batch(len(batch))
    return count


def column_type_oids(conn: Connection, table: str) -> dict[str, int]:
    """PostgreSQL: column name -> type OID of ``table`` (a domain's base type)."""
    rows = conn.execute(
        sa.text(
            "SELECT a.attname, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = CAST(:t AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        {"t": quote_table(conn.dialect, table)},
    ).all()
    return {str(name): int(oid) for name, oid in rows}


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
