"""The HTTP source base's fingerprint against the real Hawk test API: the first page's
ETag or Last-Modified (HEAD, or GET when HEAD is refused) decides the skip; an API
that gives neither never skips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tests.support.source_jobs  # noqa: F401  registers fp_http_orders
from etl_framework.runner import run_transfer
from etl_framework.testing import TransferHarness
from tests.support.hawk_server import DATASET_PATH, HawkTestServer, connection_config

pytestmark = pytest.mark.http


def harness_for(directory: Path, server: HawkTestServer) -> TransferHarness:
    return TransferHarness(
        directory,
        connections={"api": connection_config(server)},
        transfers={
            "fp_http_orders": {
                "source": {"connection": "api", "path": DATASET_PATH.lstrip("/")},
            }
        },
    )


def run(harness: TransferHarness) -> Any:
    return run_transfer(
        "fp_http_orders", "20240115", "truncate", str(harness.config_path), skip_unchanged=True
    )


def loaded(harness: TransferHarness) -> int:
    ((count,),) = harness.query("SELECT count(*) FROM omis_copy")
    return int(count)


def test_etag_skips_until_it_changes(
    tmp_path: Path, hawk_api: Callable[..., HawkTestServer]
) -> None:
    server = hawk_api(records=250, response_headers={"ETag": '"v1"'})
    harness = harness_for(tmp_path, server)
    first = run(harness)
    assert first.status == "succeeded" and loaded(harness) == 250
    pages = sum(server.hits.values())
    assert pages == 3 and server.heads == 1

    second = run(harness)
    assert (second.status, second.unchanged_since) == ("skipped", first.run_id)
    assert sum(server.hits.values()) == pages  # no page fetched: only a HEAD
    assert server.heads == 2

    server.response_headers["ETag"] = '"v2"'
    third = run(harness)
    assert third.status == "succeeded"
    assert sum(server.hits.values()) == 2 * pages
    assert run(harness).unchanged_since == third.run_id


def test_last_modified_when_there_is_no_etag(
    tmp_path: Path, hawk_api: Callable[..., HawkTestServer]
) -> None:
    server = hawk_api(
        records=120, response_headers={"Last-Modified": "Mon, 15 Jan 2024 06:00:00 GMT"}
    )
    harness = harness_for(tmp_path, server)
    first = run(harness)
    assert first.status == "succeeded" and loaded(harness) == 120
    assert run(harness).unchanged_since == first.run_id
    server.response_headers["Last-Modified"] = "Tue, 16 Jan 2024 06:00:00 GMT"
    assert run(harness).status == "succeeded"
    assert run(harness).status == "skipped"


def test_first_page_get_when_head_is_refused(
    tmp_path: Path, hawk_api: Callable[..., HawkTestServer]
) -> None:
    server = hawk_api(records=250, response_headers={"ETag": '"v1"'}, allow_head=False)
    harness = harness_for(tmp_path, server)
    first = run(harness)
    assert first.status == "succeeded" and loaded(harness) == 250
    assert server.hits[0] == 2  # the fingerprint's GET, then the run's
    assert run(harness).unchanged_since == first.run_id
    assert server.hits[0] == 3 and server.hits[1] == 1  # only the first page again
    server.response_headers["ETag"] = '"v2"'
    assert run(harness).status == "succeeded"


def test_no_validators_never_skips(tmp_path: Path, hawk_api: Callable[..., HawkTestServer]) -> None:
    server = hawk_api(records=120)
    harness = harness_for(tmp_path, server)
    assert [run(harness).status for _ in range(2)] == ["succeeded", "succeeded"]
    assert server.heads == 2
