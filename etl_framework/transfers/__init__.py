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

from typing import TYPE_CHECKING

from etl_framework._lazy import lazy_exports

if TYPE_CHECKING:  # the names as type checkers see them; imported on first use at run time
    from etl_framework.transfers.bigquery import BigQueryTransferJob as BigQueryTransferJob
    from etl_framework.transfers.bigquery import (
        BigQueryTransferOptions as BigQueryTransferOptions,
    )
    from etl_framework.transfers.declarative import (
        DeclarativeTransferJob as DeclarativeTransferJob,
    )
    from etl_framework.transfers.declarative import TargetOptions as TargetOptions
    from etl_framework.transfers.http_source import (
        HttpSourceTransferJob as HttpSourceTransferJob,
    )
    from etl_framework.transfers.http_source import (
        HttpSourceTransferOptions as HttpSourceTransferOptions,
    )
    from etl_framework.transfers.sql_source import SqlSourceTransferJob as SqlSourceTransferJob
    from etl_framework.transfers.sql_source import (
        SqlSourceTransferOptions as SqlSourceTransferOptions,
    )
    from etl_framework.transfers.table import TableTransferJob as TableTransferJob
    from etl_framework.transfers.table import TableTransferOptions as TableTransferOptions

# lazy (PEP 562): a job on one base imports neither the others' modules nor their
# clients (requests, tenacity, the BigQuery strategies)
__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "BigQueryTransferJob": ".bigquery",
        "BigQueryTransferOptions": ".bigquery",
        "DeclarativeTransferJob": ".declarative",
        "TargetOptions": ".declarative",
        "HttpSourceTransferJob": ".http_source",
        "HttpSourceTransferOptions": ".http_source",
        "SqlSourceTransferJob": ".sql_source",
        "SqlSourceTransferOptions": ".sql_source",
        "TableTransferJob": ".table",
        "TableTransferOptions": ".table",
    },
)
