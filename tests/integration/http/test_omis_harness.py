"""omis_dataset through etl_framework.testing's TransferHarness (SQLite warehouse):
how a job author tests an HTTP transfer without PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from etl_framework.testing import TransferHarness
from tests.support.hawk_server import HawkTestServer, connection_config


def test_omis_dataset_in_the_harness(
    tmp_path: Path, hawk_api: Callable[..., HawkTestServer]
) -> None:
    server = hawk_api(records=420, page_size=50, latency=0.01)
    source = {
        "connection": "datahub",
        "path": "v4/dataset/omis-dataset",
        "pagination": {
            "type": "page_number",
            "page_size": 50,
            "page_size_param": "page_size",
            "total_path": "count",
        },
        "concurrency": 4,
        "page_cache": {"location": str(tmp_path / "pages")},
    }
    harness = TransferHarness(
        tmp_path,
        connections={"datahub": connection_config(server)},
        transfers={"omis_dataset": {"source": source}},
    )
    summary = harness.run("omis_dataset", "20240115", "truncate")
    assert summary.succeeded, summary.error
    assert summary.rows_read == summary.rows_written == 420
    assert summary.metrics.get("http_pages_fetched") == 9
    assert harness.query(
        "SELECT count(*), count(DISTINCT omis_order_reference) FROM omis_dataset"
    ) == [(420, 420)]
    assert harness.query(
        "SELECT company_name, cancellation_reason FROM omis_dataset "
        "WHERE omis_order_reference = 'OMIS-000010'"
    ) == [("Company 10", "Client withdrew")]
    assert not list((tmp_path / "pages").rglob("*.body"))
