"""Fetch the pages of a paginated source in order, sequentially or with N workers.

`iter_pages` reads the first page, then:

* when ``concurrency > 1`` and the paginator can list the remaining requests
  (page number or offset with a known total), fetches them with a thread pool and
  yields them **in source order**, with at most ``max_in_flight`` pages fetched but
  not yet consumed, so memory is bounded by concurrency x page size, not by the
  number of rows; then it carries on sequentially from the last page in case the
  source grew meanwhile;
* otherwise follows the paginator page by page. A request already made (the same
  URL and parameters) is a `PaginationLoopError`, never an endless loop.

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

from etl_framework.http.errors import PaginationLoopError
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
) -> Iterator[Page]:
    """Every page of a source, in order, starting with ``first``."""
    seen: dict[str, int] = {first.full_url: first.index}
    page = fetch(first)
    yield page
    if concurrency > 1:
        plan = paginator.plan(page)
        if plan:
            for planned in plan:
                seen[planned.full_url] = planned.index
            pages = ordered_map(fetch, plan, workers=concurrency, max_in_flight=max_in_flight)
            with contextlib.closing(pages):
                for page in pages:
                    yield page
    while (request := paginator.next(page)) is not None:
        if request.full_url in seen:
            raise PaginationLoopError(request.full_url, page.index, seen[request.full_url])
        seen[request.full_url] = request.index
        page = fetch(request)
        yield page
