"""Ready-made concrete job bases built on the write strategies.

Declare a source, a target table, a field mapping, a window column and key columns;
the three lifecycle methods are implemented for you:

- `TableTransferJob`: into a SQL table (PostgreSQL, SQLite, other SQLAlchemy dialects);
- `BigQueryTransferJob`: into a BigQuery table (needs the ``bigquery`` extra to run);
- `DeclarativeTransferJob`: what the two share, for a base of your own.
"""

from etl_framework.transfers.bigquery import BigQueryTransferJob, BigQueryTransferOptions
from etl_framework.transfers.declarative import DeclarativeTransferJob, TargetOptions
from etl_framework.transfers.table import TableTransferJob, TableTransferOptions

__all__ = [
    "BigQueryTransferJob",
    "BigQueryTransferOptions",
    "DeclarativeTransferJob",
    "TableTransferJob",
    "TableTransferOptions",
    "TargetOptions",
]
