"""BigQuery loading: schemas from field mappings, load files, atomic write strategies.

=================================  ==========================================
`BigQueryReplaceTableStrategy`     truncate: staging + DELETE all/INSERT in one transaction
`BigQueryReplaceWindowStrategy`    delta: staging + DELETE window/INSERT in one transaction
`BigQueryMergeStrategy`            staging + one MERGE on key columns
=================================  ==========================================

Every publish transaction checks the warehouse fence first (`etl_framework.load.bq.fence`).

Importing this package does not import google-cloud-bigquery; the strategies do
when they run. The declarative transfer built on them is
`etl_framework.transfers.BigQueryTransferJob`. See docs/gcp.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BigQueryMergeStrategy": "etl_framework.load.bq.strategies",
    "BigQueryPublishResult": "etl_framework.load.bq.strategies",
    "BigQueryReplaceTableStrategy": "etl_framework.load.bq.strategies",
    "BigQueryReplaceWindowStrategy": "etl_framework.load.bq.strategies",
    "BigQueryWriteStrategy": "etl_framework.load.bq.strategies",
    "LoadFileWriter": "etl_framework.load.bq.files",
    "Partitioning": "etl_framework.load.bq.schema",
    "schema_fields": "etl_framework.load.bq.schema",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
