"""Ready-made concrete job bases built on the write strategies.

Declare a source, a target table, a field mapping, a window column and key columns;
the three lifecycle methods are implemented for you:

- `TableTransferJob`: into a SQL table (PostgreSQL, SQLite, other SQLAlchemy dialects);
- `BigQueryTransferJob`: into a BigQuery table (needs the ``bigquery`` extra to run);
- `SqlSourceTransferJob`: a `TableTransferJob` reading one SQL query (optional
  ``fingerprint_query`` for ``--skip-unchanged``);
- `HttpSourceTransferJob`: a `TableTransferJob` reading a paginated HTTP API (its
  ETag / Last-Modified is the source's fingerprint when the API gives one);
- `DeclarativeTransferJob`: what the table bases share, for a base of your own.
"""

from etl_framework.transfers.bigquery import BigQueryTransferJob, BigQueryTransferOptions
from etl_framework.transfers.declarative import DeclarativeTransferJob, TargetOptions
from etl_framework.transfers.http_source import HttpSourceTransferJob, HttpSourceTransferOptions
from etl_framework.transfers.sql_source import SqlSourceTransferJob, SqlSourceTransferOptions
from etl_framework.transfers.table import TableTransferJob, TableTransferOptions

__all__ = [
    "BigQueryTransferJob",
    "BigQueryTransferOptions",
    "DeclarativeTransferJob",
    "HttpSourceTransferJob",
    "HttpSourceTransferOptions",
    "SqlSourceTransferJob",
    "SqlSourceTransferOptions",
    "TableTransferJob",
    "TableTransferOptions",
    "TargetOptions",
]
