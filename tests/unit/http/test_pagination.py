"""Pagination strategies and page parsing, on hand-made pages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from etl_framework.http.config import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    NoPagination,
    OffsetPagination,
    PageNumberPagination,
)
from etl_framework.http.errors import MalformedPageError
from etl_framework.http.pagination import (
    Page,
    PageRequest,
    build_paginator,
    find_path,
    parse_page,
)

BASE = "https://api.test/v4/dataset/omis-dataset"


def page(
    request: PageRequest,
    data: Any,
    headers: dict[str, str] | None = None,
    records_path: str = "results",
) -> Page:
    return parse_page(request, json.dumps(data).encode(), headers or {}, records_path)


def test_find_path() -> None:
    data = {"data": {"items": [1, 2], "meta": None}, "list": [{"a": 5}]}
    assert find_path(data, "data.items") == [1, 2]
    assert find_path(data, "") is data
    assert find_path(data, "data.meta.total") is None
    assert find_path(data, "list.0.a") == 5
    assert find_path(data, "nope.x") is None


def test_page_request_full_url_and_params() -> None:
    request = PageRequest(0, BASE, (("a", "1"),)).with_params(page=2, a="x")
    assert request.full_url == f"{BASE}?page=2&a=x"
    assert PageRequest(0, f"{BASE}?q=1", (("b", "2"),)).full_url == f"{BASE}?q=1&b=2"


def test_parse_page_records_path_nested_and_root() -> None:
    first = PageRequest(0, BASE)
    assert page(first, {"data": {"items": [{"x": 1}]}}, records_path="data.items").records == [
        {"x": 1}
    ]
    assert page(first, [{"x": 1}, {"x": 2}], records_path="").records == [{"x": 1}, {"x": 2}]
    assert page(first, {"results": None}).records == []


@pytest.mark.parametrize(
    "body, match",
    [
        (b'{"results": [1, 2', "invalid JSON"),
        (b"<html>502 Bad Gateway</html>", "invalid JSON"),
        (b'{"items": []}', "no records at 'results'"),
        (b'{"results": {"a": 1}}', "are a dict, not a list"),
    ],
)
def test_malformed_pages(body: bytes, match: str) -> None:
    request = PageRequest(3, BASE, (("page", "4"), ("token", "s3cret")))
    with pytest.raises(MalformedPageError, match=match) as info:
        parse_page(request, body, {}, "results")
    assert info.value.exit_code == 1
    # the page the API was asked for (page=4), not the 0-based position 3
    assert "page 4 from" in str(info.value) and "token=***" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_next_url_relative_and_absolute() -> None:
    paginator = build_paginator(NextUrlPagination())
    first = paginator.first(BASE, (("q", "1"),))
    p0 = page(first, {"next": "?cursor=abc&q=1", "results": [1]})
    second = paginator.next(p0)
    assert second == PageRequest(1, f"{BASE}?cursor=abc&q=1")
    p1 = page(second, {"next": "https://API.test:443/v4/x?c=2", "results": [2]})
    assert paginator.next(p1) == PageRequest(2, "https://API.test:443/v4/x?c=2")  # same origin
    assert paginator.next(page(second, {"next": None, "results": []})) is None
    assert paginator.plan(p0) is None


def test_next_url_custom_path_and_bad_type() -> None:
    paginator = build_paginator(NextUrlPagination(next_path="links.next"))
    p0 = page(PageRequest(0, BASE), {"links": {"next": f"{BASE}?p=2"}, "results": []})
    assert paginator.next(p0) == PageRequest(1, f"{BASE}?p=2")
    with pytest.raises(MalformedPageError, match="next link"):
        paginator.next(page(PageRequest(0, BASE), {"links": {"next": 5}, "results": []}))


def test_link_header() -> None:
    paginator = build_paginator(LinkHeaderPagination())
    header = f'<{BASE}?page=1>; rel="prev", <{BASE}?page=3>; rel="next"'
    p0 = page(PageRequest(1, BASE), {"results": []}, {"Link": header})
    assert paginator.next(p0) == PageRequest(2, f"{BASE}?page=3")
    assert paginator.next(page(PageRequest(1, BASE), {"results": []})) is None


def test_page_number_with_total_is_addressable() -> None:
    paginator = build_paginator(
        PageNumberPagination(page_size=100, page_size_param="size", total_path="count")
    )
    first = paginator.first(BASE, (("q", "x"),))
    assert first.full_url == f"{BASE}?q=x&page=1&size=100"
    p0 = page(first, {"count": 250, "results": list(range(100))})
    plan = paginator.plan(p0)
    assert [r.full_url for r in plan] == [
        f"{BASE}?q=x&size=100&page=2",
        f"{BASE}?q=x&size=100&page=3",
    ]
    assert [r.index for r in plan] == [1, 2]
    assert paginator.next(p0) == plan[0]
    last = page(plan[1], {"count": 250, "results": list(range(50))})
    assert paginator.next(last) is None


def test_page_number_total_pages_and_without_total() -> None:
    by_pages = build_paginator(PageNumberPagination(total_pages_path="meta.pages", start=0))
    p0 = page(by_pages.first(BASE, ()), {"meta": {"pages": 3}, "results": [1]})
    plan = by_pages.plan(p0)
    assert [r.full_url for r in plan] == [f"{BASE}?page=1", f"{BASE}?page=2"]
    # errors name the page the API was asked for: 0-based APIs keep their numbers
    assert [p0.request.page_number, *(r.page_number for r in plan)] == [0, 1, 2]
    blind = build_paginator(PageNumberPagination())
    p0 = page(blind.first(BASE, ()), {"results": [1, 2]})
    assert blind.plan(p0) is None
    assert blind.next(p0) == PageRequest(1, BASE, (("page", "2"),), number=2)
    assert blind.next(page(PageRequest(4, BASE), {"results": []})) is None


def test_offset() -> None:
    paginator = build_paginator(OffsetPagination(limit=10, total_path="total"))
    first = paginator.first(BASE, ())
    assert first.full_url == f"{BASE}?offset=0&limit=10"
    p0 = page(first, {"total": 25, "results": list(range(10))})
    assert [r.full_url for r in paginator.plan(p0)] == [
        f"{BASE}?limit=10&offset=10",
        f"{BASE}?limit=10&offset=20",
    ]
    short = page(PageRequest(2, BASE), {"total": 25, "results": list(range(5))})
    assert paginator.next(short) is None
    no_total = build_paginator(OffsetPagination(limit=10))
    assert no_total.plan(p0) is None
    assert no_total.next(p0).full_url == f"{BASE}?limit=10&offset=10"


def test_offset_total_must_be_a_number() -> None:
    paginator = build_paginator(OffsetPagination(limit=10, total_path="total"))
    with pytest.raises(MalformedPageError, match="not a number"):
        paginator.plan(page(PageRequest(0, BASE), {"total": "many", "results": []}))


def test_cursor() -> None:
    paginator = build_paginator(CursorPagination(cursor_path="meta.next", cursor_param="after"))
    p0 = page(paginator.first(BASE, (("q", "1"),)), {"meta": {"next": "AbC"}, "results": [1]})
    second = paginator.next(p0)
    assert second == PageRequest(1, BASE, (("q", "1"), ("after", "AbC")))
    p1 = page(second, {"meta": {"next": "DeF"}, "results": [2]})
    assert paginator.next(p1).params == (("q", "1"), ("after", "DeF"))
    assert paginator.next(page(second, {"meta": {"next": None}, "results": []})) is None


def test_no_pagination() -> None:
    paginator = build_paginator(NoPagination())
    assert paginator.next(page(PageRequest(0, BASE), {"results": [1], "next": "x"})) is None


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.test/v4/x?token=s3cret",
        "//evil.test/v4/x?token=s3cret",
        "http://api.test/v4/x?token=s3cret",  # another scheme
        "https://api.test:8443/v4/x?token=s3cret",  # another port
    ],
)
def test_next_links_to_another_origin_are_refused(link: str) -> None:
    by_body = build_paginator(NextUrlPagination())
    by_header = build_paginator(LinkHeaderPagination())
    first = PageRequest(0, BASE, (("api_key", "mine"),))
    pages = [
        (by_body, page(first, {"next": link, "results": [1]})),
        (by_header, page(first, {"results": [1]}, {"Link": f'<{link}>; rel="next"'})),
    ]
    for paginator, p0 in pages:
        with pytest.raises(MalformedPageError, match="another origin") as info:
            paginator.next(p0)
        message = str(info.value)
        assert "credentials are only sent to https://api.test:443" in message
        assert "s3cret" not in message and "mine" not in message
        assert len(message.splitlines()) == 1


def test_offset_follows_the_records_received_when_the_server_caps_the_limit() -> None:
    paginator = build_paginator(OffsetPagination(limit=100, total_path="count"))
    first = paginator.first(BASE, ())
    p0 = page(first, {"count": 250, "results": list(range(50))})
    assert paginator.plan(p0) is None  # planned offsets 100, 200 would skip 50-99, 150-199
    second = paginator.next(p0)
    assert second is not None and second.full_url == f"{BASE}?limit=100&offset=50"
    last = page(PageRequest(4, BASE, (("offset", "200"),)), {"count": 250, "results": [1] * 50})
    assert paginator.next(last) is None
    assert paginator.expected_records(last) == 250
    blind = build_paginator(OffsetPagination(limit=100))
    assert blind.next(p0) is None  # no total: a short page is still the last one


def test_page_number_short_page_before_the_reported_end_is_an_error() -> None:
    paginator = build_paginator(
        PageNumberPagination(page_size=100, page_size_param="size", total_path="count")
    )
    p0 = page(paginator.first(BASE, ()), {"count": 250, "results": list(range(50))})
    assert paginator.plan(p0) is None
    with pytest.raises(MalformedPageError, match=r"50 records where page_size is 100.*3 pages"):
        paginator.next(p0)
