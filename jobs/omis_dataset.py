"""OMIS orders from Data Hub's Hawk-signed dataset API into the table ``omis_dataset``.

The data-flow ``OMISDatasetPipeline`` as a declarative `HttpSourceTransferJob`: pages of
``GET <base_url>/v4/dataset/omis-dataset`` (Hawk, sha256; every response's
signature verified) are streamed through the field mapping into a staging table
and published in one transaction.

* ``truncate`` fetches the whole dataset and replaces the table.
* ``delta`` fetches the records modified in the window (``source.window_params``,
  default ``modified_on__gte`` / ``modified_on__lt``) and upserts them on the
  primary key: an order modified today replaces its earlier version wherever its
  old ``modified_on`` was.

With ``source.page_cache`` set, fetched pages are kept until the publish succeeds,
so a retried run (same execution date, mode and window) resumes where the failed one
stopped instead of fetching every page again.

Config: ``jobs/config/omis_dataset.yaml``.
"""

from __future__ import annotations

from pydantic import Field

from etl_framework import register
from etl_framework.http.config import HttpSourceConfig, WindowParams
from etl_framework.mapping import FieldMapping
from etl_framework.transfers import HttpSourceTransferJob, HttpSourceTransferOptions

DEFAULT_SOURCE = HttpSourceConfig(
    connection="datahub",
    path="v4/dataset/omis-dataset",
    records_path="results",
    window_params=WindowParams(start="modified_on__gte", end="modified_on__lt"),
)


class OmisDatasetOptions(HttpSourceTransferOptions):
    source: HttpSourceConfig = Field(default_factory=lambda: DEFAULT_SOURCE)
    """Where the records come from (connection, endpoint, pagination, cache)."""


@register("omis_dataset")
class OmisDatasetJob(HttpSourceTransferJob[OmisDatasetOptions]):
    """Data Hub OMIS orders (Hawk API) into PostgreSQL table ``omis_dataset``."""

    target_connection = "warehouse"
    target_table = "omis_dataset"
    mapping = FieldMapping.from_tuples(
        [
            ("reference", "omis_order_reference", "varchar(100) primary key"),
            ("company__name", "company_name", "varchar(255) not null"),
            ("completed_on", "completion_date", "timestamptz"),
            ("delivery_date", "delivery_date", "date"),
            ("cancellation_reason__name", "cancellation_reason", "text"),
            ("status", "order_status", "varchar(100)"),
            ("subtotal_cost", "subtotal", "bigint"),
            ("uk_region__name", "uk_region", "text"),
            ("modified_on", "modified_on", "timestamptz"),
        ]
    )
    delta_strategy = "merge"  # records move between windows when modified: upsert
    key_columns = ("omis_order_reference",)
    index_columns = ("modified_on",)

    fingerprint_validators = False
    """No HEAD before each run (one request per page, as data-flow made); set True where
    the API sends ETag / Last-Modified, so that --skip-unchanged can skip a run."""
