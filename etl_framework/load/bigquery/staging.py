"""BigQuery staging table names: one per (target, window, run), owned through the ledger.

``_etl_stg_<table>__<target8>__<window>__<run8>``: ``<target8>`` is a hash of the full
``project.dataset.table`` (same-named tables of different datasets never share a
staging name), ``<window>`` the fence's window key (`etl_framework.load.fence.window_key`)
and ``<run8>`` the run tag (`etl_framework.load.contract.run_tag`). The SQL
counterpart is `etl_framework.load.sql.staging`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from etl_framework.load.contract import run_tag
from etl_framework.load.fence import window_key
from etl_framework.window import Window, parse_date

if TYPE_CHECKING:
    from etl_framework.connectors.bigquery import TableRef

STAGING_PREFIX = "_etl_stg_"
TARGET_TAG_LENGTH = 8


def parse_window_tag(tag: str) -> Window:
    """The window of a staging name's window part (`window_key`'s inverse)."""
    if tag == "all":
        return Window.unbounded()
    start, _, end = tag.partition("_")
    return Window(parse_date(start) if start else None, parse_date(end) if end else None)


def target_tag(target: TableRef) -> str:
    """8 hex digits of a hash of ``project.dataset.table``: stable across runs, and
    different for same-named tables of different datasets or projects."""
    return hashlib.sha256(str(target).encode()).hexdigest()[:TARGET_TAG_LENGTH]


def staging_table_name(target: TableRef, window: Window, run_id: str) -> str:
    """``_etl_stg_<table>__<target8>__<window>__<run8>`` of one run of ``target``."""
    return (
        f"{STAGING_PREFIX}{target.table}__{target_tag(target)}"
        f"__{window_key(window)}__{run_tag(run_id)}"
    )


__all__ = ["STAGING_PREFIX", "parse_window_tag", "staging_table_name", "target_tag"]
