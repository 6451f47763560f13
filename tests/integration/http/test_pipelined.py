"""Pages fetched ahead of the consumer, and date sub-windows fetched side by side."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

from etl_framework.connectors.http import HttpConnector
from etl_framework.http.config import HttpSourceConfig
from etl_framework.sources.http import HttpSource
from etl_framework.window import Window
from tests.support.hawk_server import (
    DATASET_PATH,
    HAWK_ID,
    HAWK_KEY,
    HawkTestServer,
    make_records,
)
from tests.support.pipeline import run_pipeline

pytestmark = pytest.mark.http

Server = Callable[..., HawkTestServer]
Connect = Callable[..., HttpConnector]
WINDOW_PARAMS = {"start": "modified_on__gte", "end": "modified_on__lt"}


def source(connector: HttpConnector, window: Window | None = None, **config: Any) -> HttpSource:
    options = HttpSourceConfig.model_validate({"connection": "api", "path": DATASET_PATH, **config})
    return HttpSource(connector, options, window=window)


def in_window(window: Window) -> list[str]:
    assert window.start is not None and window.end is not None
    return sorted(
        r["reference"]
        for r in make_records(600)
        if window.start.isoformat() <= r["modified_on"][:10] < window.end.isoformat()
    )


@pytest.mark.parametrize("concurrency, overlapping", [(1, False), (4, True)])
def test_next_url_sub_windows_are_fetched_side_by_side(
    hawk_api: Server, connect: Connect, concurrency: int, overlapping: bool
) -> None:
    server = hawk_api(records=600, page_size=20, latency=0.05)
    window = Window(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    src = source(
        connect(server),
        window,
        window_params=WINDOW_PARAMS,
        concurrency=concurrency,
    )
    got = [record["reference"] for record in src.records()]
    assert sorted(got) == in_window(window) and len(got) == len(set(got)) == 300
    starts = {
        dict(parse_qsl(urlsplit(path).query)).get("modified_on__gte") for path, _ in server.received
    }
    if overlapping:
        assert starts == {"2024-01-01", "2024-01-09", "2024-01-17", "2024-01-24"}
        assert server.max_active >= 2  # requests really overlapped
    else:
        assert starts == {"2024-01-01"} and server.max_active == 1


def test_pages_are_fetched_while_the_consumer_works_on_one(
    hawk_api: Server, connect: Connect
) -> None:
    """A next_url source with concurrency 1: the request for page 2 goes out while
    the consumer still holds page 1 (it would wait forever without a fetcher thread)."""
    server = hawk_api(records=250)
    pages = source(connect(server)).pages()
    first = next(pages)
    assert first.index == 0
    deadline = time.monotonic() + 10
    while server.hits[1] == 0:
        assert time.monotonic() < deadline, "page 2 was not fetched ahead of the consumer"
        time.sleep(0.01)
    assert [page.index for page in pages] == [1, 2]


def test_a_chain_error_reaches_the_consumer_after_the_pages_before_it(
    hawk_api: Server, connect: Connect
) -> None:
    from etl_framework.http.errors import MalformedPageError

    server = hawk_api(records=250)
    server.fail(2, kind="malformed", times=None)
    seen = []
    with pytest.raises(MalformedPageError):
        for page in source(connect(server)).pages():
            seen.append(page.index)
    assert seen == [0, 1]


def test_impossible_concurrency_exits_3_naming_why(hawk_api: Server, tmp_path: Path) -> None:
    server = hawk_api()
    config = {
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "connections": {
            "datahub": {
                "type": "http",
                "base_url": server.url,
                "auth": {"type": "hawk", "id": HAWK_ID, "key": HAWK_KEY},
            },
            "warehouse": {"type": "sql", "url": f"sqlite:///{tmp_path}/wh.db"},
        },
        "transfers": {
            "omis_dataset": {
                "source": {
                    "connection": "datahub",
                    "path": DATASET_PATH,
                    "pagination": {"type": "next_url"},
                    "concurrency": 4,
                }
            }
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_pipeline(["20240115", "omis_dataset", "truncate", str(path)], cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "concurrency 4 cannot take effect: next_url pages" in result.stderr
    assert server.received == []  # nothing fetched
