"""Pagination strategies: which request comes next, and where the records are.

A `Paginator` turns one fetched `Page` into the `PageRequest` for the following
page (``next``), and, for APIs whose pages can be addressed directly (page number
or offset with a known total), lists every remaining request up front (``plan``)
so `etl_framework.http.fetch` can fetch them with several workers.

Strategies (config ``pagination.type``): ``next_url`` (a URL in the body),
``link_header`` (RFC 8288 ``rel="next"``), ``page_number``, ``offset``, ``cursor``,
``none``. Records are found at a dotted ``records_path`` (``results``,
``data.items``; ``""`` when the page is the list itself).
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin

from etl_framework.http.config import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    NoPagination,
    OffsetPagination,
    PageNumberPagination,
    PaginationConfig,
)
from etl_framework.http.errors import MalformedPageError, redact_url, url_origin

try:  # orjson parses a 350 KB page in about half the time of json
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson comes with the http extra
    from json import loads as _loads  # type: ignore[assignment]

Params = tuple[tuple[str, str], ...]

log = logging.getLogger("etl_framework.http")


@dataclass(frozen=True)
class PageRequest:
    """The request for one page: its position in the source and what to GET."""

    index: int
    """Position in the source: 0 for the first page read."""
    url: str
    params: Params = ()
    number: int | None = None
    """The page number the API was asked for (``page_number`` pagination); None when
    the request has no page number, and errors count pages from 1 (`page_number`)."""

    @property
    def page_number(self) -> int:
        """The page as errors name it: the number asked for, else the 1-based position."""
        return self.number if self.number is not None else self.index + 1

    @property
    def full_url(self) -> str:
        """The URL with its parameters: the page's identity (loops, cache)."""
        if not self.params:
            return self.url
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}{urlencode(self.params)}"

    def with_params(self, **updates: str | int) -> PageRequest:
        """The same URL with some parameters set (replacing earlier values)."""
        kept = tuple((k, v) for k, v in self.params if k not in updates)
        return PageRequest(
            self.index,
            self.url,
            kept + tuple((k, str(v)) for k, v in updates.items()),
            self.number,
        )


@dataclass
class Page:
    """One fetched page: the raw body (what Hawk verified), headers, parsed data."""

    request: PageRequest
    body: bytes
    headers: Mapping[str, str]
    data: Any
    records: list[Any]
    from_cache: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def index(self) -> int:
        return self.request.index


KEPT_HEADERS = ("content-type", "link")
"""The response headers a page keeps (and the page cache stores)."""


def find_path(data: Any, path: str) -> Any:
    """``data`` at a dotted path (``""`` = ``data``); None when a step is missing."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
        if data is None:
            return None
    return data


def parse_page(
    request: PageRequest,
    body: bytes,
    headers: Mapping[str, str],
    records_path: str,
    *,
    from_cache: bool = False,
) -> Page:
    """Parse a JSON page; `MalformedPageError` (a SourceError) when it is not usable."""
    try:
        data = _loads(body)
    except ValueError as exc:
        raise MalformedPageError(
            request.full_url, request.page_number, f"invalid JSON: {exc}"
        ) from exc
    records = find_path(data, records_path)
    if records is None and records_path and isinstance(data, Mapping):
        if records_path.split(".")[0] not in data:
            raise MalformedPageError(
                request.full_url,
                request.page_number,
                f"no records at {records_path!r}; top-level keys: {sorted(data)[:10]}",
            )
        records = []  # an explicit null list: no records on this page
    if not isinstance(records, list):
        raise MalformedPageError(
            request.full_url,
            request.page_number,
            f"records at {records_path or '(root)'!r} are a {type(records).__name__}, not a list",
        )
    kept = {k.lower(): v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
    return Page(request, body, kept, data, records, from_cache=from_cache)


class Paginator(ABC):
    """Works out the next request from the page just read."""

    def first(self, url: str, params: Params) -> PageRequest:
        return PageRequest(0, url, params)

    @abstractmethod
    def next(self, page: Page) -> PageRequest | None:
        """The request for the page after ``page``; None when ``page`` was the last."""

    def plan(self, first: Page) -> Sequence[PageRequest] | None:
        """Every request after ``first`` if pages are directly addressable, else None."""
        return None

    def expected_records(self, last: Page) -> int | None:
        """How many records the whole source holds, when the API says (else None).

        Read from the last page, so a source that grew during the run counts in full.
        """
        return None


def _linked(page: Page, link: str) -> PageRequest:
    """The request for a next link, refused when it leaves the first request's origin.

    Session auth goes with every request, so a link to another scheme, host or port
    would hand our credentials to whoever the page names.
    """
    url = urljoin(page.request.full_url, link)
    try:
        theirs, ours = url_origin(url), url_origin(page.request.url)
    except ValueError:
        raise MalformedPageError(
            page.request.full_url,
            page.request.page_number,
            f"next link is not a valid URL: {redact_url(url)}",
        ) from None
    if theirs != ours:
        raise MalformedPageError(
            page.request.full_url,
            page.request.page_number,
            f"next link points to another origin {theirs}, refused "
            f"(credentials are only sent to {ours})",
        )
    return PageRequest(page.index + 1, url)


class NextUrlPaginator(Paginator):
    def __init__(self, config: NextUrlPagination) -> None:
        self.next_path = config.next_path

    def next(self, page: Page) -> PageRequest | None:
        link = find_path(page.data, self.next_path)
        if not link:
            return None
        if not isinstance(link, str):
            raise MalformedPageError(
                page.request.full_url,
                page.request.page_number,
                f"next link at {self.next_path!r} is a {type(link).__name__}",
            )
        return _linked(page, link)


class LinkHeaderPaginator(Paginator):
    def __init__(self, config: LinkHeaderPagination) -> None:
        self.rel = config.rel

    def next(self, page: Page) -> PageRequest | None:
        from requests.utils import parse_header_links

        header = page.headers.get("link")
        if not header:
            return None
        for link in parse_header_links(header):
            if self.rel in link.get("rel", "").split() and link.get("url"):
                return _linked(page, link["url"])
        return None


def _total(page: Page, path: str | None) -> int | None:
    if not path:
        return None
    value = find_path(page.data, path)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MalformedPageError(
            page.request.full_url,
            page.request.page_number,
            f"total at {path!r} is not a number: {value!r}",
        ) from None


def _capped(first: Page, size: int | None, more: bool) -> bool:
    """Whether the first page is short although more pages follow.

    Then the server returns fewer records per page than we asked for, and pages
    planned at our page size would skip records: they are read one after another.
    """
    if size is None or not more or len(first.records) >= size:
        return False
    log.warning(
        "%s returned %d records where %d were asked for; reading pages one by one",
        redact_url(first.request.full_url),
        len(first.records),
        size,
    )
    return True


class PageNumberPaginator(Paginator):
    def __init__(self, config: PageNumberPagination) -> None:
        self.config = config

    def first(self, url: str, params: Params) -> PageRequest:
        request = PageRequest(0, url, params, self.config.start).with_params(
            **{self.config.page_param: self.config.start}
        )
        if self.config.page_size and self.config.page_size_param:
            request = request.with_params(**{self.config.page_size_param: self.config.page_size})
        return request

    def _page(self, template: PageRequest, index: int) -> PageRequest:
        number = self.config.start + index
        moved = template.with_params(**{self.config.page_param: number})
        return PageRequest(index, moved.url, moved.params, number)

    def total_pages(self, page: Page) -> int | None:
        pages = _total(page, self.config.total_pages_path)
        if pages is not None:
            return pages
        records = _total(page, self.config.total_path)
        if records is not None and self.config.page_size:
            return math.ceil(records / self.config.page_size)
        return None

    def next(self, page: Page) -> PageRequest | None:
        if not page.records:
            return None
        pages = self.total_pages(page)
        if pages is not None and page.index + 1 >= pages:
            return None
        size = self.config.page_size
        if size and len(page.records) < size:
            if pages is not None:  # page numbers follow the server's page size, not ours
                raise MalformedPageError(
                    page.request.full_url,
                    page.request.page_number,
                    f"{len(page.records)} records where page_size is {size}, but the API "
                    f"reports {pages} pages; does it cap the page size below {size}?",
                )
            return None
        return self._page(page.request, page.index + 1)

    def plan(self, first: Page) -> Sequence[PageRequest] | None:
        pages = self.total_pages(first)
        if pages is None or _capped(first, self.config.page_size, pages > 1):
            return None
        return [self._page(first.request, i) for i in range(1, pages)]

    def expected_records(self, last: Page) -> int | None:
        return _total(last, self.config.total_path)


class OffsetPaginator(Paginator):
    def __init__(self, config: OffsetPagination) -> None:
        self.config = config

    def first(self, url: str, params: Params) -> PageRequest:
        return PageRequest(0, url, params).with_params(
            **{self.config.offset_param: 0, self.config.limit_param: self.config.limit}
        )

    def _page(self, template: PageRequest, index: int) -> PageRequest:
        moved = template.with_params(**{self.config.offset_param: index * self.config.limit})
        return PageRequest(index, moved.url, moved.params)

    def _offset(self, request: PageRequest) -> int:
        for name, value in request.params:
            if name == self.config.offset_param and value.isdigit():
                return int(value)
        return request.index * self.config.limit

    def next(self, page: Page) -> PageRequest | None:
        if not page.records:
            return None
        total = _total(page, self.config.total_path)
        if total is None and len(page.records) < self.config.limit:
            return None  # a short page is the last one when nothing says otherwise
        # the next offset follows the records actually received: a server that caps
        # the limit below ours returns short pages, and striding by our limit would
        # skip the records in between
        offset = self._offset(page.request) + len(page.records)
        if total is not None and offset >= total:
            return None
        moved = page.request.with_params(**{self.config.offset_param: offset})
        return PageRequest(page.index + 1, moved.url, moved.params)

    def plan(self, first: Page) -> Sequence[PageRequest] | None:
        total = _total(first, self.config.total_path)
        if total is None or _capped(first, self.config.limit, total > len(first.records)):
            return None
        pages = math.ceil(total / self.config.limit)
        return [self._page(first.request, i) for i in range(1, pages)]

    def expected_records(self, last: Page) -> int | None:
        return _total(last, self.config.total_path)


class CursorPaginator(Paginator):
    def __init__(self, config: CursorPagination) -> None:
        self.config = config

    def next(self, page: Page) -> PageRequest | None:
        cursor = find_path(page.data, self.config.cursor_path)
        if cursor is None or cursor == "":
            return None
        moved = page.request.with_params(**{self.config.cursor_param: str(cursor)})
        return PageRequest(page.index + 1, moved.url, moved.params)


class SinglePage(Paginator):
    def __init__(self, config: NoPagination | None = None) -> None:
        pass

    def next(self, page: Page) -> PageRequest | None:
        return None


_STRATEGIES: dict[type[Any], type[Paginator]] = {
    NextUrlPagination: NextUrlPaginator,
    LinkHeaderPagination: LinkHeaderPaginator,
    PageNumberPagination: PageNumberPaginator,
    OffsetPagination: OffsetPaginator,
    CursorPagination: CursorPaginator,
    NoPagination: SinglePage,
}


def build_paginator(config: PaginationConfig) -> Paginator:
    """The paginator for a ``pagination`` config."""
    return _STRATEGIES[type(config)](config)  # type: ignore[call-arg]
