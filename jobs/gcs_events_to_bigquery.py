"""Event exports in GCS (NDJSON, one folder per day) -> a day-partitioned BigQuery table.

The exporter writes ``<source_prefix>/dt=YYYY-MM-DD/*.json`` (optionally ``.json.gz``),
one JSON object per line with nested ``user`` and ``properties`` objects. The field
mapping flattens them (``user__id`` -> ``user_id``) into ``analytics.events``,
partitioned by ``event_date`` (DAY) and clustered by ``event_type``.

- ``truncate`` reads every day folder into an expiring staging table and replaces the
  table's rows in ONE transaction (the table itself, its descriptions and policy tags
  survive).
- ``delta`` reads only the window's day folders, loads them into an expiring staging
  table and replaces exactly those days in ONE transaction (DELETE the window's
  partitions + INSERT). Rerunning a day gives the same table; a failing run leaves it
  as it was.

Run::

    pipeline 20240115 gcs_events_to_bigquery truncate jobs/config/gcs_events_to_bigquery.yaml
    pipeline 20240115 gcs_events_to_bigquery delta jobs/config/gcs_events_to_bigquery.yaml \\
        --delta_start_date 20240110
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

from etl_framework import register
from etl_framework.connections import ConnectionRef
from etl_framework.load.bigquery.schema import Partitioning
from etl_framework.mapping import FieldMapping
from etl_framework.transfers import BigQueryTransferJob, BigQueryTransferOptions

if TYPE_CHECKING:
    from etl_framework.connectors.gcs import GcsConnector

DAY_FOLDER = "dt={day}"


class GcsEventsOptions(BigQueryTransferOptions):
    """``transfers.gcs_events_to_bigquery`` in config."""

    source_prefix: str
    """``gs://bucket/path`` holding the ``dt=YYYY-MM-DD/`` day folders."""
    gcs_connection: Annotated[str, ConnectionRef("gcs")] = "gcs"
    """The ``type: gcs`` connection that reads the exports (checked before the run)."""
    file_pattern: str = "*.json*"
    """Which objects of a day folder are export files (fnmatch on the file name)."""


@register("gcs_events_to_bigquery")
class GcsEventsToBigQueryJob(BigQueryTransferJob[GcsEventsOptions]):
    """NDJSON event exports in GCS into the day-partitioned table ``analytics.events``."""

    target_connection = "bigquery"
    target_table = "analytics.events"
    mapping = FieldMapping.from_tuples(
        [
            ("event_id", "event_id", "varchar(64) primary key"),
            ("event_type", "event_type", "varchar(32) not null"),
            ("occurred_at", "occurred_at", "timestamptz not null"),
            ("occurred_at", "event_date", "date not null"),
            ("user__id", "user_id", "bigint"),
            ("user__country", "user_country", "varchar(2)"),
            ("properties__amount", "amount", "numeric(12,2)"),
            ("properties", "properties", "json"),
        ]
    )
    window_column = "event_date"
    partitioning = Partitioning(column="event_date", granularity="DAY")
    clustering = ("event_type",)

    def export_files(self) -> list[str]:
        """The run's export files: every day folder (truncate) or the window's days."""
        from etl_framework.connectors.gcs import GcsConnector

        options = self.options
        gcs = self.context.connections.get(options.gcs_connection, GcsConnector)
        prefix = options.source_prefix.rstrip("/")
        window = self.context.window
        if window.is_unbounded:
            folders = [f"{prefix}/"]
        else:
            folders = [
                f"{prefix}/{DAY_FOLDER.format(day=day.isoformat())}/" for day in window.days()
            ]
        files = []
        for folder in folders:
            for info in gcs.list_objects(folder):
                if fnmatch.fnmatchcase(info.name.rsplit("/", 1)[-1], options.file_pattern):
                    files.append(info.uri)
        self.context.logger.info("found %d export files under %s", len(files), prefix)
        return files

    def source(self) -> Iterator[dict[str, Any]]:
        from etl_framework.connectors.gcs import GcsConnector
        from etl_framework.sources.files import ndjson_records

        gcs: GcsConnector = self.context.connections.get(self.options.gcs_connection, GcsConnector)
        for uri in self.export_files():
            yield from ndjson_records(uri, client=gcs.client)
