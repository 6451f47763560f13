"""The one-query description of a PostgreSQL target against SQLAlchemy's inspector.

`check_target` on PostgreSQL reads the target with `describe_table` (one catalog query)
instead of the inspector's six. Both are asked the same questions here, on tables with
every type a mapping can declare and the edge cases around them (lengths, precisions,
time zones, arrays, enums, domains, identity and generated columns, partial and
expression indexes, views, case variants, schemas and the search path): the schema
check must come to the same verdict, with the same words, whichever path read it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from etl_framework.load.sql.pg_catalog import describe_table
from etl_framework.load.sql.schema import (
    referencing_foreign_keys,
    type_problem,
    unique_key_exists,
)
from etl_framework.load.sql.target_check import case_conflict
from etl_framework.mapping import ColumnType

pytestmark = pytest.mark.postgres

SETUP = """
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE wide (
  id bigint PRIMARY KEY,
  small smallint NOT NULL,
  whole integer DEFAULT 7,
  serial_id serial,
  ident bigint GENERATED ALWAYS AS IDENTITY,
  doubled bigint GENERATED ALWAYS AS (id * 2) STORED,
  body text,
  short varchar(20) NOT NULL DEFAULT 'x',
  unbounded varchar,
  code char(3),
  amount numeric(12,2),
  free numeric,
  big_amount numeric(30,4),
  score double precision,
  ratio real,
  flag boolean,
  day date,
  at timestamp,
  at3 timestamp(3),
  atz timestamptz,
  atz3 timestamp(3) with time zone,
  clock time,
  doc jsonb,
  raw json,
  ref uuid,
  tags text[],
  grid integer[][],
  feeling mood,
  count positive
);
CREATE UNIQUE INDEX wide_small_ux ON wide (small, code);
CREATE UNIQUE INDEX wide_partial_ux ON wide (body) WHERE flag;
CREATE UNIQUE INDEX wide_expr_ux ON wide (lower(body));
ALTER TABLE wide ADD CONSTRAINT wide_short_uq UNIQUE (short);
CREATE TABLE child (id int, wide_id bigint REFERENCES wide (id) ON DELETE CASCADE);
CREATE TABLE child2 (
  id int,
  wide_id bigint,
  CONSTRAINT child2_fk FOREIGN KEY (wide_id) REFERENCES wide (id) DEFERRABLE
);
CREATE VIEW wide_view AS SELECT id, body FROM wide;
CREATE VIEW "Shadow" AS SELECT 1 AS x;
CREATE TABLE "Orders" (id int);
CREATE SCHEMA other;
CREATE TABLE other.things (id int PRIMARY KEY, note text NOT NULL);
CREATE TABLE other."Mixed" (id int);
"""

KINDS = [
    "text",
    "varchar(10)",
    "varchar(20)",
    "varchar(30)",
    "smallint",
    "integer",
    "bigint",
    "double precision",
    "numeric",
    "numeric(12,2)",
    "numeric(10,2)",
    "numeric(30,4)",
    "numeric(12,3)",
    "boolean",
    "date",
    "timestamp",
    "timestamptz",
    "json",
]


@pytest.fixture
def conn(postgres_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as setup:
        setup.exec_driver_sql(SETUP)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def _inspected(conn: sa.Connection, name: str) -> list[dict[str, object]]:
    schema, _, table = name.rpartition(".")
    return sa.inspect(conn).get_columns(table, schema=schema or None)  # type: ignore[return-value]


@pytest.mark.parametrize("name", ["wide", "public.wide", "wide_view", "other.things", "child"])
def test_columns_agree_with_the_inspector(conn: sa.Connection, name: str) -> None:
    found = describe_table(conn, name)
    assert found.exists and found.case_variant is None
    inspected = _inspected(conn, name)
    assert [c["name"] for c in found.columns] == [c["name"] for c in inspected]
    for ours, theirs in zip(found.columns, inspected, strict=True):
        column = ours["name"]
        assert ours["nullable"] == theirs["nullable"], column
        assert (ours["default"] is None) == (theirs.get("default") is None), column
        for kind in KINDS:
            expected = ColumnType.parse(kind)
            verdict = type_problem(expected, ours["type"], "postgresql")
            assert verdict == type_problem(expected, theirs["type"], "postgresql"), (column, kind)
        if type_problem(ColumnType.parse("text"), theirs["type"], "postgresql") is None or (
            type(theirs["type"]).__name__ not in ("ARRAY", "ENUM", "DOMAIN")
        ):
            # what the schema check's messages print
            assert str(ours["type"]) == str(theirs["type"]), column


@pytest.mark.parametrize(
    "keys",
    [("id",), ("ID",), ("small", "code"), ("code", "small"), ("short",), ("body",), ("small",)],
)
def test_unique_keys_agree_with_the_inspector(conn: sa.Connection, keys: tuple[str, ...]) -> None:
    found = describe_table(conn, "wide")
    check_keys = found.unique_keys
    wanted = {k.lower() for k in keys}
    ours = any({c.lower() for c in key} == wanted for key in check_keys)
    assert ours == unique_key_exists(conn, "wide", keys)


def test_referencing_keys_agree(conn: sa.Connection) -> None:
    found = describe_table(conn, "wide")
    assert list(found.referencing_keys) == referencing_foreign_keys(conn, "wide")
    assert {k.name for k in found.referencing_keys} == {"child_wide_id_fkey", "child2_fk"}
    assert describe_table(conn, "other.things").referencing_keys == ()


@pytest.mark.parametrize(
    "name",
    ["orders", "ORDERS", "Orders", "shadow", "other.mixed", "other.Mixed", "WIDE", "missing"],
)
def test_case_variants_and_existence_agree(conn: sa.Connection, name: str) -> None:
    schema, _, table = name.rpartition(".")
    inspector = sa.inspect(conn)
    found = describe_table(conn, name)
    assert found.case_variant == case_conflict(inspector, name)
    assert found.exists == inspector.has_table(table, schema=schema or None)


def test_the_search_path_decides_an_unqualified_name(conn: sa.Connection) -> None:
    assert not describe_table(conn, "things").exists
    conn.exec_driver_sql("SET search_path TO other, public")
    found = describe_table(conn, "things")
    assert found.exists
    assert [c["name"] for c in found.columns] == ["id", "note"]
    assert found.unique_keys == (("id",),)
