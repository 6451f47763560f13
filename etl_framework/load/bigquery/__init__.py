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

from etl_framework._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "BigQueryMergeStrategy": ".merge",
        "BigQueryPublishResult": ".base",
        "BigQueryReplaceTableStrategy": ".replace_table",
        "BigQueryReplaceWindowStrategy": ".replace_window",
        "BigQueryWriteStrategy": ".base",
        "LoadFileWriter": ".files",
        "Partitioning": ".schema",
        "schema_fields": ".schema",
    },
)
