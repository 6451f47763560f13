"""`HttpSourceTransferJob`: a `TableTransferJob` whose records come from a paginated
HTTP API (`etl_framework.sources.http.HttpSource`)::

    @register("omis_orders")
    class OmisOrders(HttpSourceTransferJob):
        target_table = "omis_orders"
        mapping = FieldMapping.from_tuples([...])
        delta_strategy = "merge"
        key_columns = ("reference",)

    # config: transfers.omis_orders.source: {connection: datahub, path: v4/dataset/...}

The source's fingerprint, for ``pipeline --skip-unchanged``, is the ``ETag`` (else the
``Last-Modified``) the API gives for the run's first page: a HEAD request, or a GET of
the first page when the API refuses HEAD (`etl_framework.sources.fingerprints.
http_source_fingerprint`). An API that gives neither has no fingerprint: its runs never
skip. Fetched pages in the page cache are removed once the run succeeded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel
from typing_extensions import TypeVar

from etl_framework.http.config import HttpSourceConfig
from etl_framework.job import Outcome
from etl_framework.transfers.table import TableTransferJob, TableTransferOptions

if TYPE_CHECKING:
    from etl_framework.config import FrameworkConfig
    from etl_framework.sources.http import HttpSource
    from etl_framework.window import Window


class HttpSourceTransferOptions(TableTransferOptions):
    source: HttpSourceConfig
    """Where the records come from (connection, endpoint, pagination, cache)."""


HttpSourceOptionsT = TypeVar(
    "HttpSourceOptionsT", bound=HttpSourceTransferOptions, default=HttpSourceTransferOptions
)


class HttpSourceTransferJob(TableTransferJob[HttpSourceOptionsT]):
    """Records of ``transfers.<name>.source`` (an HTTP API) into one SQL table.

    Must declare: `target_table` and `mapping` (and the delta declarations).
    """

    fingerprint_validators: ClassVar[bool] = True
    """Ask the API for ETag / Last-Modified before each run (one HEAD request); False:
    no source fingerprint, the transfer never skips."""
    options_model: ClassVar[type[BaseModel]] = HttpSourceTransferOptions

    _http: HttpSource | None = None

    def source(self) -> Iterator[Any]:
        from etl_framework.sources.http import HttpSource

        # TableTransferJob counts rows read; the source records page counts only.
        self._http = HttpSource.from_context(self.context, self.options.source, count_rows=False)
        return self._http.records()

    def post_execution_cleanup(self, outcome: Outcome) -> None:
        """Drop staging (TableTransferJob), then the page cache once published."""
        try:
            super().post_execution_cleanup(outcome)
        finally:
            if outcome.succeeded and self._http is not None:
                self._http.clear_cache()

    @classmethod
    def source_fingerprint(
        cls, config: FrameworkConfig, options: HttpSourceOptionsT, window: Window
    ) -> str | None:
        """The ETag / Last-Modified of the window's first page; None if the API gives
        neither."""
        if not cls.fingerprint_validators:
            return None
        from etl_framework.connectors.http import HttpConnector
        from etl_framework.context import Connections
        from etl_framework.sources.fingerprints import http_source_fingerprint
        from etl_framework.sources.http import HttpSource

        connections = Connections(config.connections)
        try:
            connector = connections.get(options.source.connection, HttpConnector)
            first = HttpSource(connector, options.source, window=window).first_request
            return http_source_fingerprint(connector, first.url, first.params or None)
        finally:
            connections.close_all()
