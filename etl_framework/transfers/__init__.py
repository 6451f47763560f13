"""Ready-made concrete job bases built on the write strategies.

`TableTransferJob`: declare a source, a target table, a field mapping, a window
column and key columns; the three lifecycle methods are implemented for you.
`DeclarativeTransferJob` holds what it shares with `BigQueryTransferJob`
(`etl_framework.load.bq`).
"""

from etl_framework.transfers.declarative import DeclarativeTransferJob, TargetOptions
from etl_framework.transfers.table import TableTransferJob, TableTransferOptions

__all__ = ["DeclarativeTransferJob", "TableTransferJob", "TableTransferOptions", "TargetOptions"]
