"""BigQuery schemas from field mappings, and checks of an existing target.

Mapping kinds (`etl_framework.mapping.ColumnKind`) become these BigQuery types:

==============================  ==========================================
mapping kind                    BigQuery type
==============================  ==========================================
text, varchar(n)                STRING (varchar: ``maxLength`` n)
smallint, integer, bigint       INT64
double precision                FLOAT64
numeric                         NUMERIC (default 38,9)
numeric(p,s), s <= 9, p-s <= 29  NUMERIC(p,s)
numeric(p,s), s <= 38, p-s <= 38 BIGNUMERIC(p,s)
boolean                         BOOL
date                            DATE
timestamp (naive)               DATETIME
timestamptz                     TIMESTAMP
json                            JSON
==============================  ==========================================

A ``not null``/``primary key`` column is ``REQUIRED``, every other ``NULLABLE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from etl_framework.exceptions import ConfigError, SchemaMismatchError
from etl_framework.mapping import ColumnKind, ColumnType

if TYPE_CHECKING:
    from etl_framework.mapping import FieldMapping

SIMPLE_TYPES: dict[ColumnKind, str] = {
    ColumnKind.TEXT: "STRING",
    ColumnKind.VARCHAR: "STRING",
    ColumnKind.SMALLINT: "INT64",
    ColumnKind.INTEGER: "INT64",
    ColumnKind.BIGINT: "INT64",
    ColumnKind.FLOAT: "FLOAT64",
    ColumnKind.BOOLEAN: "BOOL",
    ColumnKind.DATE: "DATE",
    ColumnKind.TIMESTAMP: "DATETIME",
    ColumnKind.TIMESTAMPTZ: "TIMESTAMP",
    ColumnKind.JSON: "JSON",
}
LEGACY_NAMES = {
    "INTEGER": "INT64",
    "FLOAT": "FLOAT64",
    "BOOLEAN": "BOOL",
    "DECIMAL": "NUMERIC",
    "BIGDECIMAL": "BIGNUMERIC",
}
"""The API reports legacy type names; compare in GoogleSQL names."""


class Partitioning(BaseModel):
    """Time partitioning of a target created by the framework (never changed later)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    """A DATE, DATETIME or TIMESTAMP column (normally the window column)."""
    granularity: Literal["DAY", "HOUR", "MONTH", "YEAR"] = "DAY"
    expiration_days: float | None = Field(default=None, gt=0)
    require_filter: bool = False
    """Queries must filter on the partition column (the strategies always do)."""


def bigquery_type(column_type: ColumnType) -> tuple[str, dict[str, int]]:
    """(GoogleSQL type name, SchemaField parameters) of a mapping column type."""
    kind = column_type.kind
    if kind is ColumnKind.NUMERIC:
        precision, scale = column_type.precision, column_type.scale or 0
        if precision is None:
            return "NUMERIC", {}
        if scale <= 9 and precision - scale <= 29:
            return "NUMERIC", {"precision": precision, "scale": scale}
        if scale <= 38 and precision - scale <= 38:
            return "BIGNUMERIC", {"precision": precision, "scale": scale}
        raise ConfigError(
            f"{column_type} does not fit BigQuery: NUMERIC allows scale <= 9 and 29 integer "
            "digits, BIGNUMERIC scale <= 38 and 38 integer digits"
        )
    if kind is ColumnKind.VARCHAR and column_type.length:
        return "STRING", {"max_length": column_type.length}
    return SIMPLE_TYPES[kind], {}


def normalize_type(name: str) -> str:
    upper = name.upper()
    return LEGACY_NAMES.get(upper, upper)


def schema_fields(
    mapping: FieldMapping, descriptions: Mapping[str, str] | None = None
) -> list[Any]:
    """``SchemaField`` s of the mapping, in mapping order."""
    from google.cloud.bigquery import SchemaField

    descriptions = descriptions or {}
    fields = []
    for f in mapping.fields:
        type_name, params = bigquery_type(f.type)
        kwargs: dict[str, Any] = dict(params)
        if descriptions.get(f.target_column):
            kwargs["description"] = descriptions[f.target_column]
        fields.append(
            SchemaField(
                f.target_column,
                type_name,
                mode="NULLABLE" if f.nullable else "REQUIRED",
                **kwargs,
            )
        )
    return fields


def check_target_schema(table: str, existing: Sequence[Any], mapping: FieldMapping) -> None:
    """SchemaMismatchError listing every difference that would break a load or insert.

    Every mapped column must exist with the same type; target columns the mapping
    does not write must be NULLABLE. Extra descriptions, policy tags and nullable
    extra columns are fine.
    """
    by_name = {f.name.lower(): f for f in existing}
    problems: list[str] = []
    mapped = set()
    for f in mapping.fields:
        mapped.add(f.target_column.lower())
        column = by_name.get(f.target_column.lower())
        want, _params = bigquery_type(f.type)
        if column is None:
            problems.append(f"column {f.target_column!r} ({want}) is missing")
            continue
        have = normalize_type(column.field_type)
        if have != want:
            problems.append(f"column {f.target_column!r} is {have}, the mapping says {want}")
        if column.mode == "REPEATED":
            problems.append(f"column {f.target_column!r} is REPEATED")
    for name, column in by_name.items():
        if name not in mapped and column.mode == "REQUIRED":
            problems.append(f"REQUIRED column {column.name!r} is not mapped")
    if problems:
        raise SchemaMismatchError(table, "; ".join(problems))


__all__ = [
    "Partitioning",
    "bigquery_type",
    "check_target_schema",
    "normalize_type",
    "schema_fields",
]
