"""Staging table names: tagged with the run, within 63 characters (load.sql.staging)."""

from __future__ import annotations

import sqlalchemy as sa

from etl_framework.load.sql.staging import run_tag, staging_name, staging_pattern

DIALECT = sa.create_engine("sqlite://").dialect


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
