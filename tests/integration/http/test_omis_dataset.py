"""The omis_dataset transfer end to end: real `pipeline` processes, the local Hawk API,
a real PostgreSQL server. Exit codes, what the target holds after each failure, and
resuming a killed run from the page cache."""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from tests.support.hawk_server import HAWK_ID, HAWK_KEY, HawkTestServer
from tests.support.pipeline import run_pipeline, start_pipeline

pytestmark = [pytest.mark.http, pytest.mark.postgres]

Server = Callable[..., HawkTestServer]
DATE = "20240115"
FAST_RETRY = {
    "max_attempts": 3,
    "backoff_initial": 0.05,
    "backoff_max": 0.1,
    "jitter": 0.01,
    "retry_after_floor": 0.05,
    "max_total_wait": 5,
}


def write_config(
    tmp_path: Path,
    server: HawkTestServer,
    warehouse_url: str,
    *,
    key: str = HAWK_KEY,
    source: dict[str, Any] | None = None,
) -> Path:
    config = {
        "state": {
            "url": f"sqlite:///{tmp_path / 'state.db'}",
            "lease_ttl_seconds": 2,
            "heartbeat_seconds": 0.5,
        },
        "logging": {"format": "text", "level": "INFO"},
        "connections": {
            "datahub": {
                "type": "http",
                "base_url": server.url,
                "auth": {"type": "hawk", "id": HAWK_ID, "key": "${HAWK_KEY}"},
                "retry": FAST_RETRY,
            },
            "warehouse": {"type": "sql", "url": warehouse_url},
        },
        "transfers": {
            "omis_dataset": {
                "source": {
                    "connection": "datahub",
                    "path": "v4/dataset/omis-dataset",
                    "window_params": {"start": "modified_on__gte", "end": "modified_on__lt"},
                    **(source or {}),
                }
            }
        },
    }
    path = tmp_path / "omis.yaml"
    path.write_text(yaml.safe_dump(config))
    (tmp_path / "key").write_text(key)
    return path


def pipeline(tmp_path: Path, config: Path, mode: str = "truncate", *extra: str) -> Any:
    key = (tmp_path / "key").read_text()
    return run_pipeline(
        [DATE, "omis_dataset", mode, str(config), *extra], cwd=tmp_path, HAWK_KEY=key
    )


@pytest.fixture
def warehouse(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url)
    yield engine
    engine.dispose()


def table(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.text(
                    "SELECT omis_order_reference, company_name, completion_date, delivery_date, "
                    "cancellation_reason, order_status, subtotal, uk_region, modified_on "
                    "FROM omis_dataset ORDER BY omis_order_reference"
                )
            )
        ]


@pytest.fixture
def loaded(
    tmp_path: Path, hawk_api: Server, warehouse: sa.Engine, postgres_url: str
) -> tuple[HawkTestServer, Path, list[tuple[Any, ...]]]:
    """A server, a config and a target filled by one successful truncate run."""
    server = hawk_api(records=250)
    config = write_config(tmp_path, server, postgres_url)
    result = pipeline(tmp_path, config)
    assert result.returncode == 0, result.stderr
    rows = table(warehouse)
    assert len(rows) == 250
    for record in server.records:  # what the next runs would bring, if they got through
        record["company"] = {"name": "Changed Ltd"}
    return server, config, rows


def test_happy_path_truncate_then_delta(loaded: Any, warehouse: sa.Engine, tmp_path: Path) -> None:
    _server, config, rows = loaded
    first = rows[3]  # OMIS-000003 was cancelled
    assert first[:2] == ("OMIS-000003", "Company 3")
    assert first[2] is None and first[4] == "Client withdrew" and first[5] == "cancelled"
    done = rows[4]
    assert done[2] == dt.datetime(2024, 1, 5, 12, 4, tzinfo=dt.UTC)
    assert done[3] == dt.date(2024, 1, 15)
    assert done[4] is None and done[6] == 1004 and done[7] == "North West"
    with warehouse.connect() as conn:
        columns = {c["name"]: c for c in sa.inspect(conn).get_columns("omis_dataset")}
        pk = sa.inspect(conn).get_pk_constraint("omis_dataset")["constrained_columns"]
    assert pk == ["omis_order_reference"]
    assert str(columns["omis_order_reference"]["type"]) == "VARCHAR(100)"
    assert not columns["company_name"]["nullable"]
    assert isinstance(columns["completion_date"]["type"], sa.TIMESTAMP)
    assert columns["completion_date"]["type"].timezone

    # delta 2024-01-10..2024-01-11: only those days are fetched and upserted
    result = pipeline(tmp_path, config, "delta", "--delta_start_date", "20240110")
    assert result.returncode == 0, result.stderr
    changed = {r[0] for r in table(warehouse) if r[1] == "Changed Ltd"}
    expected = {f"OMIS-{i:06d}" for i in range(250) if 9 <= i % 60 <= 14}
    assert changed == expected
    assert len(table(warehouse)) == 250


def test_wrong_key_exits_1_and_leaves_the_target(
    loaded: Any, warehouse: sa.Engine, tmp_path: Path
) -> None:
    _server, config, rows = loaded
    (tmp_path / "key").write_text("definitely-not-the-key")
    result = pipeline(tmp_path, config)
    assert result.returncode == 1, result.stderr
    assert "HTTP 401 Unauthorized" in result.stderr
    assert "definitely-not-the-key" not in result.stderr + result.stdout
    assert table(warehouse) == rows


@pytest.mark.parametrize("kind", ["tamper", "unsigned"])
def test_tampered_or_unsigned_page_exits_1_nothing_published(
    loaded: Any, warehouse: sa.Engine, tmp_path: Path, kind: str
) -> None:
    server, config, rows = loaded
    server.fail(2, kind=kind)
    result = pipeline(tmp_path, config)
    assert result.returncode == 1, result.stderr
    assert "failed Hawk verification" in result.stderr
    assert table(warehouse) == rows


def test_permanent_503_exits_75_target_untouched(
    loaded: Any, warehouse: sa.Engine, tmp_path: Path
) -> None:
    server, config, rows = loaded
    server.fail(1, status=503, times=None)
    result = pipeline(tmp_path, config)
    assert result.returncode == 75, result.stderr
    assert "still failing after 3 attempts" in result.stderr
    assert table(warehouse) == rows


def test_429_then_success(loaded: Any, warehouse: sa.Engine, tmp_path: Path) -> None:
    server, config, _rows = loaded
    server.fail(1, status=429, retry_after="1")
    result = pipeline(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert {r[1] for r in table(warehouse)} == {"Changed Ltd"}


def test_malformed_page_exits_1_target_untouched(
    loaded: Any, warehouse: sa.Engine, tmp_path: Path
) -> None:
    server, config, rows = loaded
    server.fail(2, kind="malformed")
    result = pipeline(tmp_path, config)
    assert result.returncode == 1, result.stderr
    assert "is malformed: invalid JSON" in result.stderr
    assert table(warehouse) == rows


def test_next_url_loop_exits_1(loaded: Any, warehouse: sa.Engine, tmp_path: Path) -> None:
    server, config, rows = loaded
    server.fail(2, kind="loop", target_page=0)
    result = pipeline(tmp_path, config)
    assert result.returncode == 1, result.stderr
    assert "pagination loop" in result.stderr
    assert table(warehouse) == rows


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_killed_run_resumes_from_the_page_cache(
    tmp_path: Path, hawk_api: Server, warehouse: sa.Engine, postgres_url: str
) -> None:
    server = hawk_api(records=1500, latency=0.15)
    cache = tmp_path / "page-cache"
    config = write_config(
        tmp_path, server, postgres_url, source={"page_cache": {"location": str(cache)}}
    )
    proc = start_pipeline(
        [DATE, "omis_dataset", "truncate", str(config)], cwd=tmp_path, HAWK_KEY=HAWK_KEY
    )
    cached_pages = lambda: len(list(cache.rglob("*.meta.json")))  # noqa: E731
    try:
        wait_until(lambda: cached_pages() >= 5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    kept = cached_pages()
    assert 5 <= kept < 15
    fetched = dict(server.hits)
    # The first run creates its target in the publish transaction: killed, it left none.
    assert not sa.inspect(warehouse).has_table("omis_dataset")

    time.sleep(2.5)  # the killed run's lease (ttl 2 s) expires
    result = pipeline(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert len(table(warehouse)) == 1500
    for page in range(kept):  # cached pages were not fetched again
        assert server.hits[page] == fetched[page] == 1, page
    assert all(server.hits[page] == 1 for page in range(kept + 1, 15))
    assert f"holds {kept} page(s)" in result.stderr
    assert not list(cache.rglob("*.body"))  # removed after the successful publish
