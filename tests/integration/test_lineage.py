"""OpenLineage events of real `pipeline` runs of the demo, with the file transport."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.openlineage import problems, receiver
from tests.support.pipeline import REPO, run_pipeline

SECRET = "ol-key-'quote\"-9f3a"


def demo(tmp_path: Path, lineage: dict[str, Any], **transfer: Any) -> Path:
    config = yaml.safe_load((REPO / "jobs" / "config" / "local.yaml").read_text())
    config["lineage"] = lineage
    config["transfers"]["demo_orders"].update(transfer)
    path = tmp_path / "local.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def events(path: Path) -> list[dict[str, Any]]:
    """The events of the file transport, each checked against the RunEvent rules."""
    found = [json.loads(line) for line in path.read_text().splitlines()]
    for event in found:
        assert problems(event) == [], event
    return found


def test_the_schema_check_refuses_what_the_spec_refuses() -> None:
    good = {
        "eventType": "START",
        "eventTime": "2024-02-15T00:00:00+00:00",
        "producer": "https://example.com/etl",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0190a4c1-6c3e-7d2a-9b1e-3f4a5b6c7d8e"},
        "job": {"namespace": "shop", "name": "demo_orders"},
        "outputs": [
            {
                "namespace": "sqlite:///x.db",
                "name": "orders",
                "outputFacets": {
                    "outputStatistics": {
                        "_producer": "https://example.com/etl",
                        "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/x.json",
                        "rowCount": 3,
                    }
                },
            }
        ],
    }
    assert problems(good) == []
    bad = json.loads(json.dumps(good))
    bad["eventType"] = "DONE"
    bad["eventTime"] = "yesterday"
    bad["run"]["runId"] = "run-1"
    del bad["job"]["name"]
    bad["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] = "3"
    found = "\n".join(problems(bad))
    for where in ("eventType", "eventTime", "run/runId", "job", "rowCount"):
        assert where in found, found


def ledger_run(tmp_path: Path) -> tuple[str, int, int]:
    conn = sqlite3.connect(tmp_path / ".etl" / "state.db")
    try:
        return conn.execute("SELECT run_id, rows_read, rows_written FROM etl_runs").fetchone()
    finally:
        conn.close()


def test_a_run_emits_start_then_complete_with_datasets_and_row_counts(tmp_path: Path) -> None:
    out = tmp_path / "lineage.jsonl"
    config = demo(tmp_path, {"transport": "file", "path": str(out), "namespace": "shop"})
    result = run_pipeline(["20240215", "demo_orders", "truncate", str(config)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    start, complete = events(out)
    run_id, rows_read, rows_written = ledger_run(tmp_path)
    assert rows_written > 0
    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    for event in (start, complete):
        assert event["run"]["runId"] == run_id
        assert event["job"]["namespace"] == "shop"
        assert event["job"]["name"] == "demo_orders"
        assert event["run"]["facets"]["nominalTime"]["nominalStartTime"].startswith("2024-02-15")
        (output,) = event["outputs"]
        warehouse = os.path.realpath(tmp_path / ".etl" / "warehouse.db")
        assert (output["namespace"], output["name"]) == (f"sqlite://{warehouse}", "orders")
        (source,) = event["inputs"]
        assert source["namespace"] == "file"
        assert source["name"].endswith(".csv.gz")
    assert "outputFacets" not in start["outputs"][0] or not start["outputs"][0]["outputFacets"]
    stats = complete["outputs"][0]["outputFacets"]["outputStatistics"]
    assert stats["rowCount"] == rows_written
    assert complete["inputs"][0]["inputFacets"]["inputStatistics"]["rowCount"] == rows_read


def test_a_failed_run_emits_fail_with_its_error(tmp_path: Path) -> None:
    out = tmp_path / "lineage.jsonl"
    config = demo(
        tmp_path,
        {"transport": "file", "path": str(out)},
        source=str(tmp_path / "missing.csv"),
    )
    result = run_pipeline(["20240215", "demo_orders", "truncate", str(config)], cwd=tmp_path)
    assert result.returncode != 0

    start, fail = events(out)
    assert [start["eventType"], fail["eventType"]] == ["START", "FAIL"]
    assert "missing.csv" in fail["run"]["facets"]["errorMessage"]["message"]


def test_an_unreachable_backend_costs_a_warning_never_the_run_nor_the_secret(
    tmp_path: Path,
) -> None:
    config = demo(
        tmp_path,
        {
            "transport": "http",
            "url": "http://127.0.0.1:9",  # discard port: nothing listens
            "api_key": "${LINEAGE_KEY}",
            "timeout_seconds": 0.5,
        },
    )
    result = run_pipeline(
        ["20240215", "demo_orders", "truncate", str(config)],
        cwd=tmp_path,
        LINEAGE_KEY=SECRET,
    )
    assert result.returncode == 0, result.stderr
    assert "lineage START event not sent" in result.stderr
    assert "lineage COMPLETE event not sent" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_the_http_transport_posts_each_event_with_the_key_and_never_logs_it(
    tmp_path: Path,
) -> None:
    with receiver() as (url, received):
        config = demo(
            tmp_path,
            {
                "transport": "http",
                "url": url,
                "endpoint": "api/v1/lineage",
                "api_key": "${LINEAGE_KEY}",
            },
        )
        result = run_pipeline(
            ["20240215", "demo_orders", "truncate", str(config)],
            cwd=tmp_path,
            LINEAGE_KEY=SECRET,
        )
    assert result.returncode == 0, result.stderr
    assert [e["eventType"] for e in received.events] == ["START", "COMPLETE"]
    for event in received.events:
        assert problems(event) == [], event
    assert received.paths == ["/api/v1/lineage"] * 2
    assert received.authorizations == [f"Bearer {SECRET}"] * 2
    assert SECRET not in result.stdout + result.stderr
    assert SECRET not in (tmp_path / ".etl" / "state.db").read_bytes().decode("latin-1")


@pytest.mark.parametrize(
    ("lineage", "problem"),
    [
        ({"transport": "file"}, "lineage.path"),
        ({"transport": "http"}, "lineage.url"),
        ({"transport": "kafka"}, "lineage.transport"),
    ],
)
def test_an_incomplete_lineage_setting_is_a_config_error_before_anything(
    tmp_path: Path, lineage: dict[str, Any], problem: str
) -> None:
    config = demo(tmp_path, lineage)
    result = run_pipeline(["20240215", "demo_orders", "truncate", str(config)], cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert problem in result.stderr
    assert not (tmp_path / ".etl").exists()
