"""Fetch the pages of a paginated source in order, sequentially or with N workers.

`iter_pages` reads the first page, then:

* when ``concurrency > 1`` and the paginator can list the remaining requests
  (page number or offset with a known total), fetches them with a thread pool and
  yields them **in source order**, with at most ``max_in_flight`` pages fetched but
  not yet consumed, so memory is bounded by concurrency x page size, not by the
  number of rows; then it carries on sequentially from the last page in case the
  source grew meanwhile;
* otherwise follows the paginator page by page. A request already made (the same
  URL and parameters), or a page with the very records of the page before (an API
  that answers every page past the end with its last one), is a
  `PaginationLoopError`, never an endless loop; ``max_pages`` bounds the rest.

When the API reports a total number of records, the pages must hold that many:
otherwise records were skipped (a server capping the page size, say) and the
source fails with `MalformedPageError` rather than load part of the data.

The fetch function does the I/O, verification and parsing, so all of that runs in
the workers; the consumer thread only sees finished pages.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from etl_framework.http.errors import MalformedPageError, PaginationLoopError, TooManyPagesError
from etl_framework.http.pagination import Page, PageRequest, Paginator

T = TypeVar("T")
R = TypeVar("R")

IN_FLIGHT_PER_WORKER = 2
"""Default bound on pages fetched ahead of the consumer, per worker."""


def ordered_map(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    max_in_flight: int | None = None,
) -> Generator[R, None, None]:
    """``map(func, items)`` on a thread pool, in input order, with bounded look-ahead.

    At most ``max_in_flight`` results are computed or computing ahead of the one
    being consumed. An exception surfaces at its item's position; stopping early
    (``close()`` or an error) cancels what has not started.
    """
    limit = max(1, max_in_flight or workers * IN_FLIGHT_PER_WORKER)
    source = iter(items)
    pending: collections.deque[Future[R]] = collections.deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="etl-http-fetch")
    try:
        for item in itertools.islice(source, limit):
            pending.append(pool.submit(func, item))
        while pending:
            result = pending.popleft().result()
            for item in itertools.islice(source, 1):
                pending.append(pool.submit(func, item))
            yield result
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def iter_pages(
    fetch: Callable[[PageRequest], Page],
    paginator: Paginator,
    first: PageRequest,
    *,
    concurrency: int = 1,
    max_in_flight: int | None = None,
    max_pages: int | None = None,
) -> Iterator[Page]:
    """Every page of a source, in order, starting with ``first``.

    Raises `PaginationLoopError` for a request already made or a page repeating the
    records of the one before, `TooManyPagesError` past ``max_pages`` (before
    fetching more), and `MalformedPageError` when the API reports a total and the
    pages held another number of records.
    """
    seen: dict[str, int] = {first.full_url: first.page_number}  # URL -> page (as named)
    checks = _PageChecks(paginator)
    page = checks(fetch(first))
    yield page
    if concurrency > 1:
        plan = paginator.plan(page)
        if plan:
            if max_pages is not None and len(plan) + 1 > max_pages:
                raise TooManyPagesError(first.full_url, max_pages)
            for planned in plan:
                seen[planned.full_url] = planned.page_number
            pages = ordered_map(fetch, plan, workers=concurrency, max_in_flight=max_in_flight)
            with contextlib.closing(pages):
                for page in pages:
                    yield checks(page)
    while (request := paginator.next(page)) is not None:
        if request.full_url in seen:
            raise PaginationLoopError(
                request.full_url, page.request.page_number, seen[request.full_url]
            )
        if max_pages is not None and len(seen) >= max_pages:
            raise TooManyPagesError(first.full_url, max_pages)
        seen[request.full_url] = request.page_number
        page = checks(fetch(request))
        yield page
    checks.finish(page)


class _PageChecks:
    """What no single page shows: a page repeated, records missing against the total."""

    def __init__(self, paginator: Paginator) -> None:
        self.paginator = paginator
        self.records = 0
        self.pages = 0
        self.previous: Page | None = None

    def __call__(self, page: Page) -> Page:
        previous = self.previous
        # An API that answers any page past the end with its last page (Django's
        # get_page does) gives new URLs forever; the repeated records give it away.
        # Empty pages are no evidence: some cursor APIs send several in a row.
        if (
            previous is not None
            and page.records
            and len(page.records) == len(previous.records)
            and page.records[0] == previous.records[0]
            and page.records == previous.records
        ):
            raise PaginationLoopError(
                page.request.full_url,
                page.request.page_number,
                previous.request.page_number,
                repeated=True,
            )
        self.previous = page
        self.records += len(page.records)
        self.pages += 1
        return page

    def finish(self, last: Page) -> None:
        expected = self.paginator.expected_records(last)
        if expected is not None and self.records != expected:
            raise MalformedPageError(
                last.request.full_url,
                last.request.page_number,
                f"{self.records} records read in {self.pages} pages, but the API reports "
                f"a total of {expected}; does it cap the page size or limit below ours?",
            )
