"""OpenLineage events of a run: START when it starts, COMPLETE or FAIL when it ends.

Off by default; ``lineage.transport`` in config turns it on (``file``: one JSON event
per line appended to ``lineage.path``; ``http``: POSTed to a lineage backend such as
Marquez at ``lineage.url``). Needs the ``lineage`` extra (openlineage-python), imported
only when lineage is on.

An event names the job (``lineage.namespace`` / the transfer name), the run (the
ledger's run id, the window as the nominal time), the datasets read (the transfer's
`etl_framework.job.ETLJob.lineage_inputs`) and written (its ledger target keys,
`etl_framework.job.ETLJob.write_targets`), and the rows read and written as dataset
statistics facets. Dataset names follow OpenLineage's naming conventions where one
exists (``postgres://host:port`` + ``db.schema.table``, ``bigquery`` +
``project.dataset.table``, ``gs://bucket`` + path, ``file`` + path). Nothing secret goes
into an event: target keys hold no credentials and URLs lose their user info and query.

Emitting is best effort: a lineage backend that is down or a file that cannot be
written costs a warning, never the run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from etl_framework._version import __version__
from etl_framework.exceptions import missing_extra_error

if TYPE_CHECKING:
    from etl_framework.config import LineageConfig
    from etl_framework.window import Window

PRODUCER = f"https://github.com/etl-framework/etl_framework/tree/{__version__}"
"""The ``producer`` of every event and facet (OpenLineage wants a URI)."""
HTTP_RETRIES = 2
"""Retries of a POST to the lineage backend (OpenLineage's default of 5 with backoff
would hold the end of a run for seconds when the backend is down)."""


def dataset_name(key: str) -> tuple[str, str]:
    """(namespace, name) of a ledger target key or an input location.

    >>> dataset_name("sql:postgresql://db:5432/shop/public.orders")
    ('postgres://db:5432', 'shop.public.orders')
    >>> dataset_name("bigquery:proj.ds.events")
    ('bigquery', 'proj.ds.events')
    >>> dataset_name("gs://bucket/exports/2024/")
    ('gs://bucket', 'exports/2024/')
    """
    if key.startswith("sql:"):
        parts = urlsplit(key.removeprefix("sql:"))
        scheme = "postgres" if parts.scheme == "postgresql" else parts.scheme
        database, _, table = parts.path.lstrip("/").partition("/")
        return f"{scheme}://{parts.hostname or 'localhost'}:{parts.port or ''}".rstrip(
            ":"
        ), f"{database}.{table}"
    if key.startswith("sqlite:"):
        path, _, table = key.removeprefix("sqlite:").rpartition("/")
        return f"sqlite://{path}", table
    if key.startswith("bigquery:"):
        return "bigquery", key.removeprefix("bigquery:")
    parts = urlsplit(key)
    if parts.scheme in ("gs", "s3", "http", "https") and parts.hostname:
        # No user info (credentials), no query (API keys travel there), no fragment.
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}", parts.path.lstrip("/") or "/"
    if parts.scheme == "file" or key.startswith("/"):
        return "file", parts.path if parts.scheme == "file" else key
    kind, _, rest = key.partition(":")
    return kind or "unknown", rest or key


@dataclass(frozen=True)
class RunFacts:
    """What the events say about one run."""

    transfer: str
    run_id: str
    mode: str
    execution_date: dt.date
    window: Window
    inputs: frozenset[str]
    outputs: frozenset[str]


class LineageEmitter:
    """Sends one run's events to the configured transport; logs, never raises."""

    def __init__(self, config: LineageConfig, facts: RunFacts, logger: Any) -> None:
        self._config = config
        self._facts = facts
        self._logger = logger
        self._client = _client(config)

    def start(self) -> None:
        self._emit("START", rows_read=None, rows_written=None, error=None)

    def finish(
        self, *, succeeded: bool, rows_read: int, rows_written: int, error: str | None
    ) -> None:
        self._emit(
            "COMPLETE" if succeeded else "FAIL",
            rows_read=rows_read,
            rows_written=rows_written,
            error=error,
        )

    def _emit(
        self, state: str, *, rows_read: int | None, rows_written: int | None, error: str | None
    ) -> None:
        try:
            self._client.emit(self._event(state, rows_read, rows_written, error))
        except Exception as exc:  # best effort: lineage never fails a run
            self._logger.warning(
                "lineage %s event not sent (%s): %s", state, self._config.transport, exc
            )

    def _event(
        self, state: str, rows_read: int | None, rows_written: int | None, error: str | None
    ) -> Any:
        from openlineage.client import facet_v2
        from openlineage.client.event_v2 import (
            InputDataset,
            Job,
            OutputDataset,
            Run,
            RunEvent,
            RunState,
        )
        from openlineage.client.facet_v2 import error_message_run, job_type_job, nominal_time_run

        InputStatistics = facet_v2.input_statistics_input_dataset.InputStatisticsInputDatasetFacet
        OutputStatistics = (
            facet_v2.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet
        )

        facts = self._facts
        run_facets: dict[str, Any] = {
            "nominalTime": nominal_time_run.NominalTimeRunFacet(
                # a truncate run's window is unbounded: its execution date stands for it
                nominalStartTime=_instant(facts.window.start or facts.execution_date),
                nominalEndTime=_instant(
                    facts.window.end or facts.execution_date + dt.timedelta(days=1)
                ),
                producer=PRODUCER,
            ),
        }
        if error is not None:
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=error, programmingLanguage="python", producer=PRODUCER
            )
        inputs = [
            InputDataset(
                namespace,
                name,
                inputFacets=None
                if rows_read is None
                else {"inputStatistics": InputStatistics(rowCount=rows_read, producer=PRODUCER)},
            )
            for namespace, name in _named(facts.inputs)
        ]
        outputs = [
            OutputDataset(
                namespace,
                name,
                outputFacets=None
                if rows_written is None
                else {
                    "outputStatistics": OutputStatistics(rowCount=rows_written, producer=PRODUCER)
                },
            )
            for namespace, name in _named(facts.outputs)
        ]
        job = Job(
            namespace=self._config.namespace,
            name=facts.transfer,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH",
                    integration="ETL_FRAMEWORK",
                    jobType="TRANSFER",
                    producer=PRODUCER,
                )
            },
        )
        return RunEvent(
            eventType=getattr(RunState, state),
            eventTime=dt.datetime.now(dt.UTC).isoformat(),
            run=Run(runId=facts.run_id, facets=run_facets),
            job=job,
            inputs=inputs,
            outputs=outputs,
            producer=PRODUCER,
        )


def _named(keys: Iterable[str]) -> list[tuple[str, str]]:
    return sorted(dataset_name(key) for key in keys)


def _instant(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).isoformat()


def require_client() -> None:
    """ConfigError naming the ``lineage`` extra when openlineage-python is missing."""
    import importlib.util

    try:
        found = importlib.util.find_spec("openlineage.client") is not None
    except ModuleNotFoundError:  # no openlineage package at all
        found = False
    if not found:
        raise missing_extra_error("openlineage-python", "lineage")


def _client(config: LineageConfig) -> Any:
    require_client()
    from openlineage.client import OpenLineageClient

    # The client logs each event at DEBUG, and its HTTP transport its retries: keep
    # them out of a run's log unless asked for.
    logging.getLogger("openlineage").setLevel(logging.WARNING)
    if config.transport == "file":
        from openlineage.client.transport.file import FileConfig, FileTransport

        transport: Any = FileTransport(FileConfig(log_file_path=str(config.path), append=True))
    else:
        from openlineage.client.transport.http import (
            ApiKeyTokenProvider,
            HttpConfig,
            HttpTransport,
        )

        kwargs: dict[str, Any] = {}
        if config.api_key is not None:
            kwargs["auth"] = ApiKeyTokenProvider({"apiKey": config.api_key.get_secret_value()})
        http = HttpConfig(
            url=str(config.url),
            endpoint=config.endpoint,
            timeout=config.timeout_seconds,
            retry={
                "total": HTTP_RETRIES,
                "backoff_factor": 0.2,
                "status_forcelist": [500, 502, 503, 504],
                "allowed_methods": ["POST"],
            },
            **kwargs,
        )
        transport = HttpTransport(http)
    return OpenLineageClient(transport=transport)
