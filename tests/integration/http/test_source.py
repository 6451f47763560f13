"""HttpSource against a real threaded Hawk API on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from etl_framework.connectors.http import HttpConnector
from etl_framework.exceptions import ExitCode
from etl_framework.http.config import HttpSourceConfig
from etl_framework.http.errors import (
    HttpStatusError,
    HttpUnavailableError,
    MalformedPageError,
    PaginationLoopError,
    ResponseVerificationError,
)
from etl_framework.http.page_cache import LocalPageCache
from etl_framework.sources.http import HttpSource
from tests.support.hawk_server import DATASET_PATH, HawkTestServer

Server = Callable[..., HawkTestServer]
Connect = Callable[..., HttpConnector]
EXPECTED = [f"OMIS-{i:06d}" for i in range(250)]


def source(connector: HttpConnector, **config: Any) -> HttpSource:
    return HttpSource(
        connector,
        HttpSourceConfig.model_validate({"connection": "api", "path": DATASET_PATH, **config}),
    )


def references(src: HttpSource) -> list[str]:
    return [record["reference"] for record in src.records()]


def test_hawk_happy_path_reads_every_record_in_order(hawk_api: Server, connect: Connect) -> None:
    server = hawk_api()
    assert references(source(connect(server))) == EXPECTED
    assert server.auth_failures == []
    assert [status for _page, status in server.statuses] == [200, 200, 200]


def test_server_refuses_replayed_hawk_headers(hawk_api: Server, connect: Connect) -> None:
    server = hawk_api()
    connector = connect(server)
    response = connector.session.get(server.dataset_url, timeout=10)
    assert response.status_code == 200
    header = response.request.headers["Authorization"]
    replay = requests.get(server.dataset_url, headers={"Authorization": header}, timeout=10)
    assert replay.status_code == 401
    assert "AlreadyProcessed" in server.auth_failures[-1]


def test_wrong_key_is_a_clear_terminal_error(hawk_api: Server, connect: Connect) -> None:
    server = hawk_api()
    with pytest.raises(HttpStatusError) as info:
        references(source(connect(server, key="not-the-right-key")))
    error = info.value
    assert error.exit_code == ExitCode.FAILED and error.status == 401
    assert str(error).startswith(f"GET {server.dataset_url} failed: HTTP 401 Unauthorized")
    assert "not-the-right-key" not in str(error)
    assert "MacMismatch" in server.auth_failures[0]
    assert len(server.statuses) == 1  # 401 is not retried


@pytest.mark.parametrize(
    "kind, problem", [("tamper", "MisComputedContentHash"), ("unsigned", "unsigned response")]
)
def test_tampered_or_unsigned_response_fails(
    hawk_api: Server, connect: Connect, kind: str, problem: str
) -> None:
    server = hawk_api()
    server.fail(1, kind=kind)
    src = source(connect(server))
    seen: list[str] = []
    with pytest.raises(ResponseVerificationError, match=problem) as info:
        for record in src.records():
            seen.append(record["reference"])
    assert info.value.exit_code == ExitCode.FAILED
    assert "page=2" in str(info.value)
    assert seen == EXPECTED[:100]  # nothing of the bad page got through


def test_429_with_retry_after_then_success(hawk_api: Server, connect: Connect) -> None:
    server = hawk_api()
    server.fail(1, status=429, retry_after="1")
    started = time.monotonic()
    assert references(source(connect(server))) == EXPECTED
    assert time.monotonic() - started >= 1.0  # the server's Retry-After was honoured
    assert [s for p, s in server.statuses if p == 1] == [429, 200]


def test_retry_after_zero_waits_the_floor(hawk_api: Server, connect: Connect) -> None:
    server = hawk_api()
    server.fail(1, status=429, retry_after="0", times=3)
    started = time.monotonic()
    assert references(source(connect(server, retry={"retry_after_floor": 0.2}))) == EXPECTED
    assert time.monotonic() - started >= 0.6


def test_burst_of_500s_then_success(hawk_api: Server, connect: Connect) -> None:
    server = hawk_api()
    server.fail(2, status=500, times=3)
    assert references(source(connect(server))) == EXPECTED
    assert [s for p, s in server.statuses if p == 2] == [500, 500, 500, 200]


def test_dropped_connections_are_retried(hawk_api: Server, connect: Connect) -> None:
    server = hawk_api()
    server.fail(1, kind="drop", times=2)
    assert references(source(connect(server))) == EXPECTED
    assert server.hits[1] == 3


def test_permanent_503_is_transient_after_the_retries(hawk_api: Server, connect: Connect) -> None:
    server = hawk_api()
    server.fail(1, status=503, times=None)
    with pytest.raises(HttpUnavailableError) as info:
        references(source(connect(server)))
    error = info.value
    assert error.exit_code == ExitCode.TRANSIENT
    assert error.attempts == 4 and error.status == 503
    assert "page=2" in error.url
    assert server.hits[1] == 4


def test_malformed_json_page(hawk_api: Server, connect: Connect) -> None:
    server = hawk_api()
    server.fail(2, kind="malformed")
    # the server's page index 2 is ?page=3: the error names page 3, as the URL says
    with pytest.raises(
        MalformedPageError, match=r"page 3 from \S+\?page=3 .* invalid JSON"
    ) as info:
        references(source(connect(server)))
    assert info.value.exit_code == ExitCode.FAILED


def test_next_url_loop_detected(hawk_api: Server, connect: Connect) -> None:
    server = hawk_api(records=1000)
    server.fail(4, kind="loop", target_page=1)
    with pytest.raises(PaginationLoopError, match=r"page=2, already read as page 2"):
        references(source(connect(server)))
    assert sum(server.hits.values()) == 5


@pytest.mark.parametrize(
    "pagination",
    [
        {
            "type": "page_number",
            "page_size": 100,
            "page_size_param": "page_size",
            "total_path": "count",
        },
        {"type": "offset", "limit": 100, "total_path": "count"},
    ],
)
def test_concurrent_fetch_every_record_once_in_order(
    hawk_api: Server, connect: Connect, pagination: dict[str, Any]
) -> None:
    server = hawk_api(records=2345, latency=0.02)
    src = source(connect(server), pagination=pagination, concurrency=8, max_pages_in_flight=6)
    got = references(src)
    assert got == [f"OMIS-{i:06d}" for i in range(2345)]
    assert dict(server.hits) == {page: 1 for page in range(24)}
    # really concurrent, and no more than the workers: the server saw requests overlap
    # (a proof that holds on a loaded machine, unlike a wall-clock bound)
    assert 2 <= server.max_active <= 8


def test_more_workers_than_pooled_connections(hawk_api: Server, connect: Connect) -> None:
    server = hawk_api(records=1600, page_size=50)
    connector = connect(server, pool_size=2)
    connector.get(DATASET_PATH)  # a pooled connection exists before the pool is resized
    pagination = {"type": "offset", "limit": 50, "total_path": "count"}
    src = source(connector, pagination=pagination, concurrency=12)
    assert references(src) == [f"OMIS-{i:06d}" for i in range(1600)]
    assert len(connector.session.get_adapter(server.url).poolmanager.pools) == 1


def test_link_header_and_cursor_pagination_with_nested_records(
    hawk_api: Server, connect: Connect
) -> None:
    server = hawk_api(records_key="data.items")
    connector = connect(server)
    by_link = source(connector, pagination={"type": "link_header"}, records_path="data.items")
    assert references(by_link) == EXPECTED
    by_cursor = source(connector, pagination={"type": "cursor"}, records_path="data.items")
    assert references(by_cursor) == EXPECTED


def test_window_params_restrict_the_request(hawk_api: Server, connect: Connect) -> None:
    import datetime as dt

    from etl_framework.window import Window

    server = hawk_api()
    config = HttpSourceConfig.model_validate(
        {
            "connection": "api",
            "path": DATASET_PATH,
            "window_params": {"start": "modified_on__gte", "end": "modified_on__lt"},
        }
    )
    window = Window(dt.date(2024, 1, 10), dt.date(2024, 1, 12))
    src = HttpSource(connect(server), config, window=window)
    days = {record["modified_on"][:10] for record in src.records()}
    assert days == {"2024-01-10", "2024-01-11"}


def test_page_cache_resumes_without_refetching(
    hawk_api: Server, connect: Connect, tmp_path: Path
) -> None:
    server = hawk_api(records=1000)
    connector = connect(server)
    server.fail(6, status=503, times=None)
    first = source(connector)
    first.cache = LocalPageCache(tmp_path / "pages")
    with pytest.raises(HttpUnavailableError):
        references(first)
    assert first.cache.count() == 6
    fetched_before = dict(server.hits)

    server.heal()
    second = source(connector)
    second.cache = LocalPageCache(tmp_path / "pages")
    assert references(second) == [f"OMIS-{i:06d}" for i in range(1000)]
    for page in range(6):
        assert server.hits[page] == fetched_before[page] == 1, page
    assert all(server.hits[page] == 1 for page in range(7, 10))
    second.clear_cache()
    assert second.cache.count() == 0


@pytest.mark.parametrize("concurrency", [1, 4])
def test_offset_reads_everything_when_the_server_caps_the_limit(
    hawk_api: Server, connect: Connect, concurrency: int
) -> None:
    server = hawk_api(max_page_size=50)
    pagination = {"type": "offset", "limit": 100, "total_path": "count"}
    src = source(connect(server), pagination=pagination, concurrency=concurrency)
    assert references(src) == EXPECTED
    assert dict(server.hits) == {page: 1 for page in range(5)}


@pytest.mark.parametrize("concurrency", [1, 4])
def test_page_number_fails_rather_than_skip_records_when_the_server_caps_page_size(
    hawk_api: Server, connect: Connect, concurrency: int
) -> None:
    server = hawk_api(max_page_size=50)
    pagination = {
        "type": "page_number",
        "page_size": 100,
        "page_size_param": "page_size",
        "total_path": "count",
    }
    src = source(connect(server), pagination=pagination, concurrency=concurrency)
    with pytest.raises(MalformedPageError, match="50 records where page_size is 100") as info:
        references(src)
    assert info.value.exit_code == ExitCode.FAILED


def test_bad_value_names_the_page_asked_for_the_record_and_its_key(
    hawk_api: Server, connect: Connect
) -> None:
    """The error names page 2 (what `?page=2` asked for, not position 1), the record's
    index in the page's list, its key, the column and the problem in words."""
    from etl_framework.mapping import FieldMapping, FieldValueError

    server = hawk_api(records=250)
    server.records[117]["subtotal_cost"] = "12,50"
    src = source(
        connect(server),
        pagination={"type": "page_number", "page_size": 100, "page_size_param": "page_size"},
    )
    mapping = FieldMapping.from_tuples(
        [
            ("reference", "reference", "varchar(20) primary key"),
            ("subtotal_cost", "subtotal_cost", "numeric(12,2)"),
        ]
    )
    with pytest.raises(FieldValueError) as info:
        list(mapping.rows(src.records()))
    assert str(info.value) == (
        f"page 2 of {server.dataset_url}?page_size=100&page=2, record results[17]"
        " (reference='OMIS-000117'): column 'subtotal_cost': '12,50' is not a number"
    )
