"""The outcome mapping against recorded Job/Pod API objects (tests/fixtures/k8s/)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from etl_framework.deploy.outcome import (
    JobOutcome,
    OutcomeReason,
    classify,
    parse_summary,
    timeout_outcome,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "k8s"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def run(name: str, timeout: float = 300.0) -> JobOutcome | None:
    fx = load(name)
    now = dt.datetime.fromisoformat(fx["now"].replace("Z", "+00:00"))
    return classify(fx["job"], fx["pods"], now=now, unschedulable_timeout=timeout)


def decided(name: str, timeout: float = 300.0) -> JobOutcome:
    outcome = run(name, timeout)
    assert outcome is not None, f"{name}: expected an outcome"
    return outcome


def test_succeeded_carries_the_run_summary() -> None:
    outcome = decided("succeeded")
    assert outcome.reason is OutcomeReason.SUCCEEDED
    assert outcome.succeeded and outcome.exit_code == 0
    assert outcome.summary is not None and outcome.summary["rows_written"] == 1200
    assert "rows_written=1200" in outcome.message
    assert outcome.pod == "etl-demo-orders-20240115-k3x9q-7tq2m"


def test_failed_with_exit_code_and_the_error_from_the_summary() -> None:
    outcome = decided("failed_config_error")
    assert outcome.reason is OutcomeReason.FAILED
    assert outcome.container_exit_code == 3 and outcome.exit_code == 3
    assert "exited with code 3" in outcome.message
    assert "connections.warehouse.url" in outcome.message  # the summary's error
    assert "PodFailurePolicy" in outcome.message


def test_failed_without_summary_shows_the_log_tail_of_the_last_try() -> None:
    outcome = decided("failed_backoff_logs")
    assert outcome.reason is OutcomeReason.FAILED
    assert outcome.exit_code == 75
    assert outcome.pod == "etl-demo-orders-20240115-k3x9q-g5h6i"  # the last of three tries
    assert "504 Gateway Timeout" in outcome.message
    assert "BackoffLimitExceeded" in outcome.message


def test_oomkilled_is_named_not_reported_as_none() -> None:
    outcome = decided("oomkilled")
    assert outcome.reason is OutcomeReason.OOM_KILLED
    assert outcome.exit_code == 137
    assert "memory limit" in outcome.message and "None" not in outcome.message


def test_deadline_exceeded() -> None:
    outcome = decided("deadline_exceeded")
    assert outcome.reason is OutcomeReason.DEADLINE_EXCEEDED
    assert outcome.exit_code == 124
    assert "activeDeadlineSeconds=3600" in outcome.message


def test_image_pull_backoff_is_reported_while_the_job_still_runs() -> None:
    outcome = decided("image_pull_backoff")
    assert outcome.reason is OutcomeReason.IMAGE_PULL_BACKOFF
    assert outcome.exit_code == 3
    assert "etl-framework:dev" in outcome.message


def test_missing_secret_key_is_a_config_error() -> None:
    outcome = decided("create_container_config_error")
    assert outcome.reason is OutcomeReason.CONTAINER_CONFIG_ERROR
    assert "STATE_DB_URL" in outcome.message and outcome.exit_code == 3


def test_unschedulable_after_the_timeout_only() -> None:
    outcome = decided("unschedulable")
    assert outcome.reason is OutcomeReason.UNSCHEDULABLE
    assert "Insufficient memory" in outcome.message
    assert outcome.exit_code == 75
    assert run("unschedulable_not_yet") is None
    # a tighter timeout decides the same objects
    assert decided("unschedulable_not_yet", timeout=30).reason is OutcomeReason.UNSCHEDULABLE


def test_evicted() -> None:
    outcome = decided("evicted")
    assert outcome.reason is OutcomeReason.EVICTED
    assert "low on resource: memory" in outcome.message
    assert outcome.exit_code == 75


def test_an_eviction_the_job_recovers_from_is_not_an_outcome() -> None:
    assert run("evicted_running") is None


def test_running_is_not_an_outcome() -> None:
    assert run("running") is None


def test_indexed_backfill_names_the_failed_index() -> None:
    outcome = decided("indexed_failed_index")
    assert outcome.reason is OutcomeReason.FAILED
    assert outcome.failed_indexes == "2"
    assert outcome.exit_code == 1
    assert "amount_eur" in outcome.message
    assert outcome.pod is not None and "-2-" in outcome.pod


def test_every_fixture_is_used() -> None:
    used = {
        "succeeded", "failed_config_error", "failed_backoff_logs", "oomkilled",
        "deadline_exceeded", "image_pull_backoff", "create_container_config_error",
        "unschedulable", "unschedulable_not_yet", "evicted", "evicted_running", "running",
        "indexed_failed_index",
    }  # fmt: skip
    assert {p.stem for p in FIXTURES.glob("*.json")} == used


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('{"status": "failed"}', {"status": "failed"}),
        ("Traceback ...", None),
        ("{not json", None),
        ("[1, 2]", None),
        (None, None),
    ],
)
def test_parse_summary(message: Any, expected: Any) -> None:
    assert parse_summary(message) == expected


def test_timeout_outcome() -> None:
    outcome = timeout_outcome("job-x", 12.4, "active=1")
    assert outcome.reason is OutcomeReason.TIMEOUT
    assert outcome.exit_code == 124
    assert str(outcome) == "Timeout: stopped waiting for Job job-x after 12 s; last seen: active=1"


def test_the_pod_that_failed_the_job_decides_not_a_sibling_stopped_afterwards() -> None:
    fx = load("failed_config_error")
    sibling = copy.deepcopy(fx["pods"][0])
    sibling["metadata"]["name"] += "-sibling"
    term = sibling["status"]["containerStatuses"][0]["state"]["terminated"]
    term.update({"exitCode": 143, "finishedAt": "2024-01-16T03:00:40Z", "message": ""})
    sibling["status"]["conditions"].append(
        {"type": "DisruptionTarget", "status": "True", "reason": "PodFailurePolicy"}
    )
    now = dt.datetime(2024, 1, 16, 3, 1, tzinfo=dt.UTC)
    outcome = classify(fx["job"], [fx["pods"][0], sibling], now=now)
    assert outcome is not None
    assert outcome.reason is OutcomeReason.FAILED and outcome.exit_code == 3
    assert outcome.pod == fx["pods"][0]["metadata"]["name"]
