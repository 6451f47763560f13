from __future__ import annotations

import pytest
import sqlalchemy as sa

from etl_framework.identifiers import (
    InvalidIdentifierError,
    quote_table,
    split_table_name,
    validate_identifier,
)
from etl_framework.load.contract import run_tag
from etl_framework.load.sql.staging import staging_name, staging_pattern

DIALECT = sa.create_engine("sqlite://").dialect


@pytest.mark.parametrize("name", ["orders", "_x", "Orders_2024", "a" * 63])
def test_valid_identifiers(name: str) -> None:
    assert validate_identifier(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "1a", "a-b", "a b", 'a"b', "a;b", "a" * 64, "é", "a\x00", None, 3, "orders--"],
)
def test_invalid_identifiers(name: object) -> None:
    with pytest.raises(InvalidIdentifierError):
        validate_identifier(name)


def test_table_names_and_quoting() -> None:
    assert split_table_name("s.t") == ("s", "t")
    assert split_table_name("t") == (None, "t")
    with pytest.raises(InvalidIdentifierError):
        split_table_name("a.b.c")
    assert quote_table(DIALECT, "select") == '"select"'
    assert quote_table(DIALECT, "Orders") == '"Orders"'
    assert quote_table(DIALECT, "s.orders") == '"s"."orders"'  # always quoted


def test_staging_names_carry_the_run() -> None:
    run_id = "2b8b90b7-6724-428b-959d-e1a2b894076e"
    assert run_tag(run_id) == "2b8b90b7"
    assert staging_name("orders", run_id) == "_stg_orders_2b8b90b7"
    assert staging_name("mart.orders", run_id) == "mart._stg_orders_2b8b90b7"
    assert len(run_tag("x")) == 8
    pattern = staging_pattern("orders")
    assert pattern.fullmatch("_stg_orders_2b8b90b7")
    assert not pattern.fullmatch("_stg_orders_items_2b8b90b7")
    assert not pattern.fullmatch("orders")


def test_long_table_names_stay_within_63_characters() -> None:
    long_a = "t" * 60 + "abc"
    long_b = "t" * 60 + "abd"
    a, b = staging_name(long_a, "run1run1"), staging_name(long_b, "run1run1")
    assert len(a) <= 63 and len(b) <= 63 and a != b
    assert staging_pattern(long_a).fullmatch(a) and not staging_pattern(long_a).fullmatch(b)
