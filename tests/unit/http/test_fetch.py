"""Ordered concurrent fetch: order, bounded look-ahead, errors, loops."""

from __future__ import annotations

import random
import threading
import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from etl_framework.http.config import NextUrlPagination, PageNumberPagination
from etl_framework.http.errors import MalformedPageError, PaginationLoopError, TooManyPagesError
from etl_framework.http.fetch import iter_pages, ordered_map
from etl_framework.http.pagination import Page, PageRequest, build_paginator

BASE = "https://api.test/items"


def test_ordered_map_keeps_input_order_under_random_delays() -> None:
    def slow(i: int) -> int:
        time.sleep(random.uniform(0, 0.01))
        return i * 2

    assert list(ordered_map(slow, range(60), workers=6)) == [i * 2 for i in range(60)]


def test_ordered_map_bounds_work_ahead_of_the_consumer() -> None:
    lock = threading.Lock()
    started: list[int] = []

    def work(i: int) -> int:
        with lock:
            started.append(i)
        return i

    results = ordered_map(work, range(100), workers=4, max_in_flight=5)
    assert next(results) == 0
    time.sleep(0.05)
    with lock:
        assert len(started) <= 6  # the one consumed + 5 in flight
    results.close()
    with lock:
        assert len(started) <= 6


def test_ordered_map_error_surfaces_at_its_position_and_stops() -> None:
    calls: list[int] = []

    def work(i: int) -> int:
        calls.append(i)
        if i == 3:
            raise ValueError("page 3 broke")
        return i

    got: list[int] = []
    with pytest.raises(ValueError, match="page 3 broke"):
        for value in ordered_map(work, range(1000), workers=2, max_in_flight=4):
            got.append(value)
    assert got == [0, 1, 2]
    assert len(calls) < 20


class FakeApi:
    """A fetch function over numbered pages of ``size`` records."""

    def __init__(self, total: int, size: int, loop_from: int | None = None) -> None:
        self.total, self.size, self.loop_from = total, size, loop_from
        self.fetched: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: PageRequest) -> Page:
        with self.lock:
            self.fetched.append(request.full_url)
        query = dict(parse_qsl(urlsplit(request.full_url).query))
        number = int(query.get("page", "1"))
        start = (number - 1) * self.size
        records = list(range(start, min(start + self.size, self.total)))
        more = start + self.size < self.total
        next_number = 1 if self.loop_from == number else number + 1
        data = {
            "count": self.total,
            "results": records,
            "next": f"{BASE}?page={next_number}" if more else None,
        }
        time.sleep(random.uniform(0, 0.003))
        return Page(request, b"", {}, data, records)


def test_concurrent_fetch_returns_every_record_once_in_order() -> None:
    api = FakeApi(total=1234, size=50)
    paginator = build_paginator(PageNumberPagination(page_size=50, total_path="count"))
    pages = list(iter_pages(api, paginator, paginator.first(BASE, ()), concurrency=4))
    records = [r for p in pages for r in p.records]
    assert records == list(range(1234))
    assert [p.index for p in pages] == list(range(25))
    assert len(api.fetched) == len(set(api.fetched)) == 25


def test_sequential_when_not_addressable() -> None:
    api = FakeApi(total=120, size=50)
    paginator = build_paginator(PageNumberPagination(page_size=50))  # no total
    pages = list(iter_pages(api, paginator, paginator.first(BASE, ()), concurrency=8))
    assert [r for p in pages for r in p.records] == list(range(120))


def test_concurrent_fetch_continues_if_the_source_grew() -> None:
    api = FakeApi(total=100, size=50)
    paginator = build_paginator(PageNumberPagination(page_size=50, total_path="count"))
    pages = iter_pages(api, paginator, paginator.first(BASE, ()), concurrency=3)
    first = next(pages)
    assert first.records[0] == 0
    api.total = 160  # rows added after the first page was read
    rest = [r for p in pages for r in p.records]
    assert first.records + rest == list(range(160))


def test_next_url_loop_is_an_error() -> None:
    api = FakeApi(total=500, size=50, loop_from=4)
    paginator = build_paginator(NextUrlPagination())
    with pytest.raises(
        PaginationLoopError, match=r"page 4 points to .*page=1, already read as page 1"
    ) as info:
        for _ in iter_pages(api, paginator, PageRequest(0, f"{BASE}?page=1")):
            pass
    assert info.value.exit_code == 1
    assert len(api.fetched) == 4


class ClampingApi(FakeApi):
    """Answers every page past the end with the last page (Django's ``get_page``)."""

    def __call__(self, request: PageRequest) -> Page:
        query = dict(parse_qsl(urlsplit(request.full_url).query))
        last = -(-self.total // self.size)
        clamped = PageRequest(request.index, BASE, (("page", str(min(int(query["page"]), last))),))
        page = super().__call__(clamped)
        page.data.pop("count")  # no total to stop at
        return Page(request, b"", {}, page.data, page.records)


def test_page_repeating_the_previous_one_is_a_loop() -> None:
    api = ClampingApi(total=250, size=100)
    paginator = build_paginator(PageNumberPagination())
    with pytest.raises(PaginationLoopError, match=r"page 4 .*page=4 repeats the records of page 3"):
        list(iter_pages(api, paginator, paginator.first(BASE, ())))
    assert len(api.fetched) == 4


def test_max_pages_stops_a_source_before_fetching_more() -> None:
    paginator = build_paginator(PageNumberPagination())
    api = FakeApi(total=1000, size=10)
    with pytest.raises(TooManyPagesError, match="max_pages=5") as info:
        list(iter_pages(api, paginator, paginator.first(BASE, ()), max_pages=5))
    assert info.value.exit_code == 1
    assert len(api.fetched) == 5
    planned = build_paginator(PageNumberPagination(page_size=10, total_path="count"))
    api = FakeApi(total=1000, size=10)
    with pytest.raises(TooManyPagesError):
        list(iter_pages(api, planned, planned.first(BASE, ()), concurrency=4, max_pages=50))
    assert len(api.fetched) == 1  # the plan is refused before its pages are fetched
    api = FakeApi(total=100, size=10)
    assert len(list(iter_pages(api, planned, planned.first(BASE, ()), max_pages=10))) == 10


def test_fewer_records_than_the_reported_total_is_an_error() -> None:
    api = FakeApi(total=250, size=50)
    paginator = build_paginator(PageNumberPagination(total_path="count"))

    def overstated(request: PageRequest) -> Page:
        page = api(request)
        page.data["count"] = 280  # 30 records the pages never held
        return page

    with pytest.raises(MalformedPageError, match=r"250 records read in 6 pages.*total of 280"):
        list(iter_pages(overstated, paginator, paginator.first(BASE, ())))
