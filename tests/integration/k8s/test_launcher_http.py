"""The launcher with the real kubernetes client, over HTTP, against a stand-in API server
that serves recorded Job/Pod objects: create, poll, follow logs, classify, delete."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from etl_framework.deploy.launcher import JobLauncher, Timeouts
from etl_framework.deploy.manifests import build_job
from etl_framework.deploy.outcome import OutcomeReason
from etl_framework.deploy.spec import get_transfer
from tests.support.fake_apiserver import Scenario, fake_apiserver

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "k8s"
JOB_NAME = "etl-demo-orders-20240115-k3x9q"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def state(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    fx = fixture(name)
    return fx["job"], fx["pods"]


def manifest() -> dict[str, Any]:
    spec = get_transfer("demo_orders", REPO / "gke_deploy" / "transfers.yaml", env="dev")
    job = build_job(spec, "20240115", env="dev", name_suffix="k3x9q")
    assert job["metadata"]["name"] == JOB_NAME
    return job


@pytest.fixture
def clients() -> Iterator[Any]:
    from kubernetes import client

    def make(url: str) -> tuple[Any, Any]:
        config = client.Configuration()
        config.host = url
        api = client.ApiClient(config)
        return client.BatchV1Api(api), client.CoreV1Api(api)

    yield make


def launch(
    url: str, clients: Any, *, now: dt.datetime, timeouts: Timeouts | None = None
) -> tuple[Any, list[str]]:
    batch, core = clients(url)
    lines: list[str] = []
    launcher = JobLauncher(
        batch,
        core,
        timeouts=timeouts or Timeouts(poll_interval=0.01, log_drain=5, request=5),
        emit=lines.append,
        now=lambda: now,
    )
    return launcher.run(manifest()), lines


def test_success_with_log_stream(clients: Any) -> None:
    scenario = Scenario(states=[state("running"), state("running"), state("succeeded")])
    scenario.logs["etl-demo-orders-20240115-k3x9q-r4n5g"] = "loading orders\n1200 rows written\n"
    with fake_apiserver(scenario) as url:
        outcome, lines = launch(url, clients, now=dt.datetime(2024, 1, 16, 3, 5, tzinfo=dt.UTC))
    assert outcome.reason is OutcomeReason.SUCCEEDED, outcome
    assert outcome.summary is not None and outcome.summary["rows_written"] == 1200
    assert "1200 rows written" in lines
    (created,) = scenario.created
    assert created["spec"]["podFailurePolicy"] == manifest()["spec"]["podFailurePolicy"]
    assert any(r.startswith("GET /api/v1/namespaces/etl-dev/pods?") and
               "labelSelector=job-name%3D" + JOB_NAME in r for r in scenario.requests)  # fmt: skip
    assert scenario.deleted == []


@pytest.mark.parametrize(
    ("name", "reason", "exit_code"),
    [
        ("failed_config_error", OutcomeReason.FAILED, 3),
        ("oomkilled", OutcomeReason.OOM_KILLED, 137),
        ("deadline_exceeded", OutcomeReason.DEADLINE_EXCEEDED, 124),
        ("evicted", OutcomeReason.EVICTED, 75),
    ],
)
def test_failures_through_the_real_client(
    clients: Any, name: str, reason: OutcomeReason, exit_code: int
) -> None:
    # the client turns JSON into models and the launcher back into API JSON: the
    # classification must survive the round trip (camelCase keys, timestamps)
    scenario = Scenario(states=[state("running"), state(name)])
    with fake_apiserver(scenario) as url:
        outcome, _ = launch(url, clients, now=dt.datetime(2024, 1, 16, 4, 0, 10, tzinfo=dt.UTC))
    assert outcome.reason is reason, outcome
    assert outcome.exit_code == exit_code
    assert scenario.deleted == []


def test_unschedulable_job_is_deleted(clients: Any) -> None:
    job, pods = state("unschedulable")
    scenario = Scenario(states=[(job, pods)])
    with fake_apiserver(scenario) as url:
        outcome, lines = launch(url, clients, now=dt.datetime(2024, 1, 16, 3, 10, tzinfo=dt.UTC))
    assert outcome.reason is OutcomeReason.UNSCHEDULABLE
    assert "Insufficient memory" in outcome.message
    assert scenario.deleted == [f"{JOB_NAME}:Background"]
    assert lines[-1].startswith(f"Job etl-dev/{JOB_NAME}: Unschedulable")


def test_image_pull_backoff_job_is_deleted(clients: Any) -> None:
    scenario = Scenario(states=[state("image_pull_backoff")])
    with fake_apiserver(scenario) as url:
        outcome, _ = launch(url, clients, now=dt.datetime(2024, 1, 16, 3, 2, tzinfo=dt.UTC))
    assert outcome.reason is OutcomeReason.IMAGE_PULL_BACKOFF
    assert scenario.deleted == [f"{JOB_NAME}:Background"]


def test_wait_is_bounded_when_nothing_happens(clients: Any) -> None:
    job, _ = state("running")
    scenario = Scenario(states=[(copy.deepcopy(job), [])])
    with fake_apiserver(scenario) as url:
        outcome, _ = launch(
            url,
            clients,
            now=dt.datetime(2024, 1, 16, 3, 2, tzinfo=dt.UTC),
            timeouts=Timeouts(no_pod=0.3, poll_interval=0.05, request=5),
        )
    assert outcome.reason is OutcomeReason.TIMEOUT and "no pod was created" in outcome.message
    assert scenario.deleted == [f"{JOB_NAME}:Background"]
