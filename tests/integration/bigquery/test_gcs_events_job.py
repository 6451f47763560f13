"""The example transfer gcs_events_to_bigquery, through the runner and the CLI."""

from __future__ import annotations

import decimal
import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from etl_framework.exceptions import ConfigError
from etl_framework.runner import run_transfer
from tests.support.bigquery import BigQueryTarget, staging_tables, unique

D = decimal.Decimal
REPO = Path(__file__).resolve().parents[3]
TRANSFER = "gcs_events_to_bigquery"


def event(i: int, day: str, kind: str = "click", amount: str = "2.50") -> dict[str, Any]:
    return {
        "event_id": f"e{i}",
        "event_type": kind,
        "occurred_at": f"{day}T08:{i % 60:02d}:00Z",
        "user": {"id": 100 + i, "country": "DE"},
        "properties": {"amount": amount, "page": f"/p/{i}"},
    }


def put(bucket: str, name: str, events: list[dict[str, Any]], gz: bool = False) -> None:
    from etl_framework.gcp.storage import storage_client

    data = "".join(json.dumps(e) + "\n" for e in events).encode()
    storage_client().bucket(bucket).blob(name).upload_from_string(
        gzip.compress(data) if gz else data
    )


@pytest.fixture
def setup(bq_target: BigQueryTarget, gcs_bucket: str, tmp_path: Path) -> dict[str, Any]:
    if not bq_target.emulator:
        pytest.skip("the example transfer reads its exports from the GCS emulator")
    table = f"{bq_target.dataset}.{unique('events')}"
    config = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "logging": {"format": "text", "level": "INFO"},
        "connections": {
            "bigquery": {**bq_target.connection, "staging_expiration_hours": 24},
            "gcs": {"type": "gcs"},
        },
        "transfers": {
            TRANSFER: {
                "table": table,
                "source_prefix": f"gs://{gcs_bucket}/events",
                "guards": {"min_rows": 1},
            }
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    put(
        gcs_bucket,
        "events/dt=2024-01-01/part-0.json",
        [event(1, "2024-01-01"), event(2, "2024-01-01")],
    )
    put(gcs_bucket, "events/dt=2024-01-02/part-0.json.gz", [event(3, "2024-01-02")], gz=True)
    put(gcs_bucket, "events/dt=2024-01-02/part-1.json", [event(4, "2024-01-02", "view")])
    put(gcs_bucket, "events/dt=2024-01-02/_SUCCESS", [])
    put(gcs_bucket, "events/dt=2024-01-03/part-0.json", [event(5, "2024-01-03")])
    return {"config": str(path), "table": f"{bq_target.project}.{table}", "bucket": gcs_bucket}


def content(bq: Any, table: str, where: str = "TRUE") -> list[tuple[Any, ...]]:
    result = bq.query(
        "SELECT event_id, event_type, event_date, user_id, user_country, amount, occurred_at "
        f"FROM `{table}` WHERE {where} ORDER BY event_id"
    )
    return [
        tuple(v.normalize() if isinstance(v, decimal.Decimal) else v for v in row.values())
        for row in result
    ]


def pipeline(
    day: str, mode: str, config: str, gcs_emulator: str
) -> subprocess.CompletedProcess[str]:
    """The transfer through the CLI, in a subprocess (exit code and output)."""
    return subprocess.run(
        [sys.executable, "-m", "etl_framework", day, TRANSFER, mode, config],
        cwd=REPO,
        env={**os.environ, "STORAGE_EMULATOR_HOST": gcs_emulator},
        capture_output=True,
        text=True,
        timeout=300,
    )


def digest(rows: list[tuple[Any, ...]]) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_truncate_then_delta_then_rerun(
    bq: Any, bq_target: BigQueryTarget, setup: dict[str, Any]
) -> None:
    table = setup["table"]
    summary = run_transfer(TRANSFER, "20240103", "truncate", setup["config"])
    assert summary.succeeded, summary.error
    assert summary.rows_read == 5 and summary.rows_written == 5
    assert [r[0] for r in content(bq, table)] == ["e1", "e2", "e3", "e4", "e5"]
    for name in ("bq_bytes_processed", "bq_bytes_billed", "bq_jobs", "bq_load_jobs"):
        assert name in summary.metrics
    assert summary.metrics["bq_load_jobs"] == 1
    assert "bq_slot_ms" not in summary.metrics  # the emulator reports none: unknown, not 0
    target = bq.client.get_table(table)
    assert target.time_partitioning.field == "event_date"
    assert target.clustering_fields == ["event_type"]
    assert {f.name: f.field_type for f in target.schema}["properties"] == "JSON"

    untouched = "event_date != DATE '2024-01-02'"
    before_outside = digest(content(bq, table, untouched))
    put(
        setup["bucket"],
        "events/dt=2024-01-02/part-1.json",
        [event(4, "2024-01-02", "purchase", "99.90"), event(6, "2024-01-02")],
    )
    summary = run_transfer(TRANSFER, "20240102", "delta", setup["config"])
    assert summary.succeeded, summary.error
    assert summary.rows_written == 3
    assert digest(content(bq, table, untouched)) == before_outside
    day2 = content(bq, table, "event_date = DATE '2024-01-02'")
    assert [(r[0], r[1], r[5]) for r in day2] == [
        ("e3", "click", D("2.5")),
        ("e4", "purchase", D("99.9")),
        ("e6", "click", D("2.5")),
    ]
    whole = digest(content(bq, table))
    again = run_transfer(TRANSFER, "20240102", "delta", setup["config"])
    assert again.succeeded
    assert digest(content(bq, table)) == whole
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []

    from etl_framework.state import RunStore

    store = RunStore(f"sqlite:///{Path(setup['config']).parent / 'state.db'}")
    try:
        runs = store.runs()
    finally:
        store.close()
    assert len(runs) == 3
    assert all("bq_bytes_billed" in (r.metrics or {}) for r in runs)


def test_failing_run_exits_non_zero_and_leaves_target_untouched(
    bq: Any, bq_target: BigQueryTarget, setup: dict[str, Any], gcs_emulator: str
) -> None:
    table = setup["table"]
    assert run_transfer(TRANSFER, "20240103", "truncate", setup["config"]).succeeded
    before = digest(content(bq, table))
    # A corrupt export line: the source fails, nothing is published.
    from etl_framework.gcp.storage import storage_client

    storage_client().bucket(setup["bucket"]).blob(
        "events/dt=2024-01-02/part-9.json"
    ).upload_from_string(
        b'{"event_id": "e9", "event_type": "click", "occurred_at": "2024-01-02T00:00:00Z"}\n{oops\n'
    )
    for mode in ("delta", "truncate"):
        proc = pipeline("20240102", mode, setup["config"], gcs_emulator)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "not JSON" in proc.stdout + proc.stderr
        assert digest(content(bq, table)) == before
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []

    # A day whose rows fall outside the window: the window guard refuses it.
    storage_client().bucket(setup["bucket"]).blob(
        "events/dt=2024-01-02/part-9.json"
    ).upload_from_string(json.dumps(event(9, "2024-01-05")).encode() + b"\n")
    summary = run_transfer(TRANSFER, "20240102", "delta", setup["config"])
    assert summary.exit_code == 1
    assert "outside the window" in (summary.error or "")
    assert digest(content(bq, table)) == before
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []


def test_a_collapsed_export_is_refused_by_default_and_the_override_allows_it(
    bq: Any, bq_target: BigQueryTarget, setup: dict[str, Any], gcs_emulator: str
) -> None:
    """The truncate guard defaults hold for a BigQuery transfer (as for a SQL one), and
    ``transfers.<name>.guards`` overrides them."""
    from etl_framework.gcp.storage import storage_client

    table = setup["table"]
    assert run_transfer(TRANSFER, "20240103", "truncate", setup["config"]).succeeded
    before = digest(content(bq, table))
    bucket = storage_client().bucket(setup["bucket"])
    for blob in list(bucket.list_blobs(prefix="events/dt=2024-01-0")):
        if not blob.name.startswith("events/dt=2024-01-03/"):
            blob.delete()
    # 1 of 5 rows left: below the default min_fraction 0.5 -> exit 1, target untouched
    proc = pipeline("20240103", "truncate", setup["config"], gcs_emulator)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "guard 'min_fraction' refused to publish: 1 rows loaded would replace 5 rows" in (
        proc.stdout + proc.stderr
    )
    assert digest(content(bq, table)) == before
    assert staging_tables(bq, bq_target.project, bq_target.dataset) == []

    config = yaml.safe_load(Path(setup["config"]).read_text())
    config["transfers"][TRANSFER]["guards"] = {"min_rows": 1, "min_fraction": 0.2}
    Path(setup["config"]).write_text(yaml.safe_dump(config))
    summary = run_transfer(TRANSFER, "20240103", "truncate", setup["config"])
    assert summary.succeeded, summary.error
    assert [r[0] for r in content(bq, table)] == ["e5"]

    # the old top-level min_rows is refused with a pointer to its new place (exit 3)
    config["transfers"][TRANSFER]["min_rows"] = 1
    Path(setup["config"]).write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="min_rows moved under guards") as info:
        run_transfer(TRANSFER, "20240103", "truncate", setup["config"])
    assert info.value.exit_code == 3
