"""Records from a paginated HTTP API: the piece transfers use.

`HttpSource` puts together an `HttpConnector` (auth, timeouts, retries), a
pagination strategy, concurrent ordered fetch and the optional page cache::

    source = HttpSource.from_context(context, options.source)
    for record in source.records():
        ...
    # after a successful publish (post_execution_cleanup with outcome.succeeded):
    source.clear_cache()

Configured by `etl_framework.http.config.HttpSourceConfig` inside a transfer's
options::

    source:
      connection: datahub
      path: v4/dataset/omis-dataset
      records_path: results
      pagination: {type: next_url}
      window_params: {start: modified_on__gte, end: modified_on__lt}
      concurrency: 4            # workers, or date sub-windows of a delta run
      page_cache: {location: gs://my-bucket/etl-page-cache}

Rows read are counted in ``context.counters`` as pages are consumed; pages served
from the cache are counted under ``http_pages_cached``, fetched ones under
``http_pages_fetched``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from etl_framework.connectors.http import HttpConnector
from etl_framework.http.config import HttpSourceConfig, pages_addressable
from etl_framework.http.errors import TooManyPagesError, redact_url
from etl_framework.http.fetch import IN_FLIGHT_PER_WORKER, iter_pages
from etl_framework.http.page_cache import PageCache, cache_prefix, open_page_cache
from etl_framework.http.pagination import (
    KEPT_HEADERS,
    Page,
    PageRequest,
    Paginator,
    build_paginator,
    parse_page,
)
from etl_framework.http.pipeline import Waits, fetch_ahead
from etl_framework.sources.located import PageOrigin, locate

if TYPE_CHECKING:
    from etl_framework.context import RunContext, RunCounters
    from etl_framework.window import Window

log = logging.getLogger("etl_framework.http")


class HttpSource:
    """The pages and records of one API endpoint for one run."""

    def __init__(
        self,
        connector: HttpConnector,
        config: HttpSourceConfig,
        *,
        window: Window | None = None,
        cache: PageCache | None = None,
        counters: RunCounters | None = None,
        count_rows: bool = True,
    ) -> None:
        self.connector = connector
        self.count_rows = count_rows
        self.config = config
        self.window = window
        self.cache = cache
        self.counters = counters
        self.paginator: Paginator = build_paginator(config.pagination)
        self.waits = Waits()
        """Seconds the loader waited for pages and the fetchers for the loader (`pages`)."""
        self.first_request = self.paginator.first(connector.url_for(config.path), self._params())

    @classmethod
    def from_context(
        cls, context: RunContext, config: HttpSourceConfig, *, count_rows: bool = True
    ) -> HttpSource:
        """The source for a run: its connection, window and (if configured) page cache.

        ``count_rows=False`` when the caller counts rows read itself (TableTransferJob
        does); page counts are recorded either way.
        """
        connector = context.connections.get(config.connection, HttpConnector)
        source = cls(
            connector,
            config,
            window=context.window,
            counters=context.counters,
            count_rows=count_rows,
        )
        if config.page_cache is not None:
            gcs_client = None
            if config.page_cache.gcs_connection:
                from etl_framework.connectors.gcs import GcsConnector

                gcs_client = context.connections.get(
                    config.page_cache.gcs_connection, GcsConnector
                ).client
            key = cache_prefix(
                context.transfer,
                str(context.mode),
                str(context.window),
                context.execution_date,
                source.first_request.full_url,
            )
            source.cache = open_page_cache(config.page_cache.location, key, gcs_client=gcs_client)
            cached = source.cache.count()
            if cached:
                context.logger.info(
                    "page cache %s holds %d page(s) from an earlier attempt",
                    source.cache.location,
                    cached,
                )
        return source

    def _params(self, window: Window | None = None) -> tuple[tuple[str, str], ...]:
        params = dict(self.config.params)
        window = window or self.window
        if window is not None and not window.is_unbounded:
            wp = self.config.window_params
            if wp.start and window.start is not None:
                params[wp.start] = window.start.isoformat()
            if wp.end and window.end is not None:
                params[wp.end] = window.end.isoformat()
            if not (wp.start or wp.end):
                log.warning(
                    "window %s is not sent to %s: no source.window_params configured, "
                    "so every record is fetched",
                    window,
                    self.config.path,
                )
        return tuple(params.items())

    def sub_windows(self) -> list[Window]:
        """The date sub-windows fetched concurrently, one chain of pages each; empty
        when the pages of the whole window are read as one chain.

        Only when ``concurrency > 1``, the pages are not directly addressable (those
        are fetched concurrently as they are), the source filters by both window ends
        and the run's window is bounded and longer than a day.
        """
        config = self.config
        if (
            config.concurrency <= 1
            or pages_addressable(config.pagination)
            or not (config.window_params.start and config.window_params.end)
        ):
            return []
        window = self.window
        if window is None or window.start is None or window.end is None:
            log.warning(
                "concurrency %d has no effect on this run: %s pages are read one after "
                "another and the run's window (%s) cannot be split into date sub-windows",
                config.concurrency,
                config.pagination.type,
                window or "all",
            )
            return []
        windows = window.split(config.concurrency)
        if len(windows) == 1:
            log.info("window %s is one day: its pages are read one after another", window)
            return []
        return windows

    # --- fetching --------------------------------------------------------------

    def fetch(self, request: PageRequest, part: str = "") -> Page:
        """One page: from the cache if it holds it, else from the API (then cached).

        ``part`` names the date sub-window the request belongs to, for the cache."""
        if self.cache is not None:
            hit = self.cache.get(request, part)
            if hit is not None:
                page = parse_page(
                    request, hit.body, hit.headers, self.config.records_path, from_cache=True
                )
                self._count("http_pages_cached")
                return page
        response = self.connector.request("GET", request.url, params=request.params or None)
        body = response.content
        headers = {k: v for k, v in response.headers.items() if k.lower() in KEPT_HEADERS}
        page = parse_page(request, body, headers, self.config.records_path)
        if self.cache is not None:  # only pages that verified and parsed are kept
            self.cache.put(request, body, headers, part)
        self._count("http_pages_fetched")
        return page

    def pages(self) -> Iterator[Page]:
        """Every page, fetched in threads ahead of the consumer (`fetch_ahead`).

        Directly addressable pages are fetched by ``concurrency`` workers and come in
        source order; otherwise each date sub-window (`sub_windows`) is one chain of
        pages, the chains fetched concurrently and their pages interleaved; else one
        chain, fetched one page ahead of the consumer after another.
        """
        config = self.config
        windows = self.sub_windows()
        workers = len(windows) or config.concurrency
        if workers > 1:
            self.connector.reserve_concurrency(workers)
        in_flight = config.max_pages_in_flight or config.concurrency * IN_FLIGHT_PER_WORKER
        if windows:
            chains = [
                functools.partial(
                    self._chain,
                    self.paginator.first(self.connector.url_for(config.path), self._params(w)),
                    concurrency=1,
                    in_flight=in_flight,
                    part=str(w).replace("..", "_") + "-",
                )
                for w in windows
            ]
        else:
            chains = [
                functools.partial(
                    self._chain,
                    self.first_request,
                    concurrency=config.concurrency,
                    in_flight=in_flight,
                )
            ]
        read = 0
        for read, page in enumerate(fetch_ahead(chains, depth=in_flight, waits=self.waits), 1):
            if config.max_pages is not None and read > config.max_pages:
                raise TooManyPagesError(self.first_request.full_url, config.max_pages)
            if self.counters is not None and self.count_rows:
                self.counters.add_read(len(page.records))
            yield page
        log.debug(
            "%d pages: the loader waited %.2f s for pages, the fetchers %.2f s for the loader",
            read,
            self.waits.for_pages,
            self.waits.for_room,
        )

    def _chain(
        self, first: PageRequest, *, concurrency: int, in_flight: int, part: str = ""
    ) -> Iterator[Page]:
        fetch = functools.partial(self.fetch, part=part) if part else self.fetch
        return iter_pages(
            fetch,
            self.paginator,
            first,
            concurrency=concurrency,
            max_in_flight=in_flight,
            max_pages=self.config.max_pages,
        )

    def records(self) -> Iterator[Any]:
        """Every record in source order, objects as `LocatedRecord` s (page URL, index)."""
        records_path = self.config.records_path
        for page in self.pages():
            request = page.request
            origin = PageOrigin(redact_url(request.full_url), request.page_number, records_path)
            for index, record in enumerate(page.records):
                yield locate(record, origin, index)

    def clear_cache(self) -> None:
        """Remove this run's cached pages (call after a successful publish)."""
        if self.cache is not None:
            self.cache.clear()
            log.info("page cache %s removed", self.cache.location)

    def _count(self, name: str) -> None:
        if self.counters is not None:
            self.counters.add(name, 1)
