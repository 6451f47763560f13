"""Load files: mapped row tuples written to a local NDJSON or Parquet file.

Rows stream to disk in batches (Parquet: one row group per batch), so memory does
not grow with the number of rows; the file then goes to BigQuery in one load job
(uploaded with a resumable upload, or staged in GCS first).

A value the file cannot hold raises `FieldValueError` naming the column and the value,
never a bare pyarrow or json error: NaN/Infinity (JSON has no such numbers), and
NUMERIC values outside BigQuery's range. A plain ``numeric`` column (BigQuery
``NUMERIC``: 29 integer digits, 9 decimals) gets its values rounded to 9 decimals half
away from zero, which is what BigQuery itself does when it stores a NUMERIC value
(its default ``ROUND_HALF_AWAY_FROM_ZERO`` rounding mode), so Parquet and NDJSON
loads give the same result.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from etl_framework.mapping import ColumnKind, FieldMapping, FieldValueError

FileFormat = Literal["parquet", "ndjson"]
DEFAULT_BATCH_ROWS = 10_000
SOURCE_FORMATS = {"parquet": "PARQUET", "ndjson": "NEWLINE_DELIMITED_JSON"}
"""Our format names -> BigQuery ``sourceFormat``."""
NUMERIC_SCALE = 9
NUMERIC_INTEGER_DIGITS = 29
"""BigQuery NUMERIC: 38 digits, 9 of them after the decimal point."""
_NUMERIC_QUANTUM = decimal.Decimal(1).scaleb(-NUMERIC_SCALE)
_NUMERIC_LIMIT = decimal.Decimal(1).scaleb(NUMERIC_INTEGER_DIGITS)
_NUMERIC_CONTEXT = decimal.Context(prec=100, rounding=decimal.ROUND_HALF_UP)
"""``ROUND_HALF_UP`` is half away from zero, BigQuery's default rounding mode."""


def bigquery_numeric(column: str, value: Any) -> decimal.Decimal | None:
    """``value`` rounded to NUMERIC's 9 decimals (half away from zero, like BigQuery);
    `FieldValueError` when it is not finite or has more than 29 integer digits."""
    if value is None:
        return None
    try:
        number = decimal.Decimal(value)
        if not number.is_finite():
            raise decimal.InvalidOperation
        number = number.quantize(_NUMERIC_QUANTUM, context=_NUMERIC_CONTEXT)
    except (decimal.InvalidOperation, TypeError, ValueError):
        raise FieldValueError(column, value, "is not a finite number") from None
    if number.copy_abs() >= _NUMERIC_LIMIT:  # abs() would round to 28 digits
        raise FieldValueError(
            column,
            value,
            f"does not fit BigQuery NUMERIC (at most {NUMERIC_INTEGER_DIGITS} integer digits); "
            "declare the column numeric(p,s) with p-s > 29 for BIGNUMERIC",
        )
    return number


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC).isoformat(sep=" ")
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _arrow_type(kind: ColumnKind, bignumeric: bool) -> Any:
    import pyarrow as pa

    if kind in (ColumnKind.TEXT, ColumnKind.VARCHAR, ColumnKind.JSON):
        return pa.string()
    if kind in (ColumnKind.SMALLINT, ColumnKind.INTEGER, ColumnKind.BIGINT):
        return pa.int64()
    if kind is ColumnKind.FLOAT:
        return pa.float64()
    if kind is ColumnKind.NUMERIC:
        return pa.decimal256(76, 38) if bignumeric else pa.decimal128(38, 9)
    if kind is ColumnKind.BOOLEAN:
        return pa.bool_()
    if kind is ColumnKind.DATE:
        return pa.date32()
    if kind is ColumnKind.TIMESTAMP:
        return pa.timestamp("us")
    return pa.timestamp("us", tz="UTC")


class LoadFileWriter:
    """Append mapped rows to one local load file; `close` before loading it."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        mapping: FieldMapping,
        fmt: FileFormat,
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> None:
        self.path = Path(path)
        self.mapping = mapping
        self.format = fmt
        self.batch_rows = batch_rows
        self.rows = 0
        self._columns = mapping.columns
        self._json_columns = [
            i for i, f in enumerate(mapping.fields) if f.type.kind is ColumnKind.JSON
        ]
        # Plain ``numeric``: the mapping does not round, BigQuery NUMERIC holds 9 decimals.
        self._numeric_columns = [
            i
            for i, f in enumerate(mapping.fields)
            if f.type.kind is ColumnKind.NUMERIC and f.type.precision is None
        ]
        self._handle: Any = None
        self._writer: Any = None
        self._schema: Any = None
        if fmt == "parquet":
            self._open_parquet()
        else:
            self._handle = self.path.open("w", encoding="utf-8")

    @property
    def source_format(self) -> str:
        return SOURCE_FORMATS[self.format]

    def _open_parquet(self) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            from etl_framework.exceptions import missing_extra_error

            raise missing_extra_error("pyarrow", "bigquery") from None
        from etl_framework.load.bigquery.schema import bigquery_type

        fields = []
        for f in self.mapping.fields:
            type_name, _ = bigquery_type(f.type)
            fields.append(
                pa.field(f.target_column, _arrow_type(f.type.kind, type_name == "BIGNUMERIC"))
            )
        self._schema = pa.schema(fields)
        self._writer = pq.ParquetWriter(str(self.path), self._schema, compression="snappy")

    def write(self, rows: Iterable[Sequence[Any]]) -> int:
        """Append rows (tuples in mapping column order); return how many."""
        count = 0
        batch: list[Sequence[Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= self.batch_rows:
                self._flush(batch)
                count += len(batch)
                batch = []
        if batch:
            self._flush(batch)
            count += len(batch)
        self.rows += count
        return count

    def _flush(self, batch: list[Sequence[Any]]) -> None:
        if self.format == "parquet":
            self._flush_parquet(batch)
            return
        columns = self._columns
        dumps = json.dumps
        lines = []
        numeric = self._numeric_columns
        for row in batch:
            for i in numeric:  # refuse what NUMERIC cannot hold; BigQuery rounds the rest
                bigquery_numeric(columns[i], row[i])
            record = {c: v for c, v in zip(columns, row, strict=True) if v is not None}
            try:
                # allow_nan=False: NaN/Infinity would make the line invalid JSON
                lines.append(
                    dumps(record, default=_json_value, separators=(",", ":"), allow_nan=False)
                )
            except ValueError:
                raise self._non_finite(row) from None
        self._handle.write("\n".join(lines))
        self._handle.write("\n")

    def _flush_parquet(self, batch: list[Sequence[Any]]) -> None:
        import pyarrow as pa

        arrays = []
        for index, field in enumerate(self._schema):
            values = [row[index] for row in batch]
            if index in self._json_columns:
                values = [self._json_text(field.name, v) for v in values]
            elif index in self._numeric_columns:
                values = [bigquery_numeric(field.name, v) for v in values]
            try:
                arrays.append(pa.array(values, type=field.type))
            except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
                raise self._unwritable(field, values, exc) from exc
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))

    @staticmethod
    def _json_text(column: str, value: Any) -> str | None:
        if value is None:
            return None
        try:
            return json.dumps(value, default=_json_value, separators=(",", ":"), allow_nan=False)
        except ValueError:
            raise FieldValueError(column, value, "is not valid JSON (NaN/Infinity)") from None

    def _non_finite(self, row: Sequence[Any]) -> FieldValueError:
        """The error for the row whose JSON encoding refused NaN/Infinity."""
        for column, value in zip(self._columns, row, strict=True):
            try:
                json.dumps(value, default=_json_value, allow_nan=False)
            except ValueError:
                return FieldValueError(column, value, "is not valid JSON (NaN/Infinity)")
        return FieldValueError(self._columns[0], row, "is not valid JSON")

    @staticmethod
    def _unwritable(field: Any, values: list[Any], exc: Exception) -> FieldValueError:
        """Name the first value pyarrow refuses (one by one: the batch error names none)."""
        import pyarrow as pa

        for value in values:
            try:
                pa.array([value], type=field.type)
            except (pa.ArrowException, OverflowError, TypeError, ValueError) as one:
                return FieldValueError(field.name, value, f"does not fit {field.type}: {one}")
        return FieldValueError(field.name, None, f"does not fit {field.type}: {exc}")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0


__all__ = [
    "DEFAULT_BATCH_ROWS",
    "SOURCE_FORMATS",
    "FileFormat",
    "LoadFileWriter",
    "bigquery_numeric",
]
