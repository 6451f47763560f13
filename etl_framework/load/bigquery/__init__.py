"""BigQuery loading: schemas from field mappings, load files, atomic write strategies.

=================================  ==========================================
`BigQueryReplaceTableStrategy`     truncate: staging + DELETE all/INSERT in one transaction
`BigQueryReplaceWindowStrategy`    delta: staging + DELETE window/INSERT in one transaction
`BigQueryMergeStrategy`            staging + one MERGE on key columns
=================================  ==========================================

Every publish transaction checks the warehouse fence first (`etl_framework.load.bigquery.fence`).

One module per strategy (``replace_table.py``, ``replace_window.py``, ``merge.py``)
on ``base.py``, named like the SQL backend's (`etl_framework.load.sql`); ``staging.py``
(names), ``fence.py``, ``files.py`` (load files), ``schema.py``. Guard settings and
defaults: the one `etl_framework.load.guards.GuardConfig`.

Importing this package does not import google-cloud-bigquery; the strategies do
when they run. The declarative transfer built on them is
`etl_framework.transfers.BigQueryTransferJob`. See docs/gcp.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BigQueryMergeStrategy": "etl_framework.load.bigquery.merge",
    "BigQueryPublishResult": "etl_framework.load.bigquery.base",
    "BigQueryReplaceTableStrategy": "etl_framework.load.bigquery.replace_table",
    "BigQueryReplaceWindowStrategy": "etl_framework.load.bigquery.replace_window",
    "BigQueryWriteStrategy": "etl_framework.load.bigquery.base",
    "LoadFileWriter": "etl_framework.load.bigquery.files",
    "Partitioning": "etl_framework.load.bigquery.schema",
    "schema_fields": "etl_framework.load.bigquery.schema",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
