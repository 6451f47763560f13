"""The launcher's wait loop with a scripted in-memory API (the mapping itself has its own tests)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from etl_framework.deploy.launcher import JobLauncher, Timeouts
from etl_framework.deploy.outcome import OutcomeReason

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "k8s"
MANIFEST: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "etl-demo-orders-20240115-k3x9q", "namespace": "etl-dev"},
    "spec": {"activeDeadlineSeconds": 60, "template": {}},
}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


class FakeStream:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def stream(self, amt: int, decode_content: bool = False) -> Iterator[bytes]:
        yield from self.chunks


class FakeApi:
    """BatchV1Api + CoreV1Api: each poll returns the next scripted (job, pods) state."""

    def __init__(self, states: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
        self.states = states
        self.polls = 0
        self.created: list[dict[str, Any]] = []
        self.deleted: list[tuple[str, str, str]] = []
        self.log_requests: list[str] = []
        self.logs: dict[str, list[bytes]] = {}

    def _state(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return self.states[min(self.polls, len(self.states) - 1)]

    def create_namespaced_job(self, namespace: str, body: dict[str, Any], **kw: Any) -> Any:
        assert kw["_request_timeout"] > 0
        self.created.append(body)
        return copy.deepcopy(body)

    def read_namespaced_job(self, name: str, namespace: str, **kw: Any) -> Any:
        assert kw["_request_timeout"] > 0
        return self._state()[0]

    def list_namespaced_pod(self, namespace: str, **kw: Any) -> Any:
        assert kw["label_selector"] == f"job-name={MANIFEST['metadata']['name']}"
        pods = self._state()[1]
        self.polls += 1
        return {"items": pods}

    def read_namespaced_pod_log(self, name: str, namespace: str, **kw: Any) -> Any:
        assert kw["container"] == "pipeline" and kw["follow"] is True
        self.log_requests.append(name)
        return FakeStream(self.logs.get(name, []))

    def delete_namespaced_job(self, name: str, namespace: str, **kw: Any) -> None:
        self.deleted.append((name, namespace, kw["propagation_policy"]))


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0
        self.start = dt.datetime(2024, 1, 16, 3, 0, 2, tzinfo=dt.UTC)

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.t)


def launcher(api: FakeApi, timeouts: Timeouts, lines: list[str]) -> tuple[JobLauncher, FakeTime]:
    t = FakeTime()
    return (
        JobLauncher(
            api, api, timeouts=timeouts, emit=lines.append, clock=t.clock, sleep=t.sleep, now=t.now
        ),
        t,
    )


def test_success_streams_the_log_and_returns_the_outcome() -> None:
    running, done = fixture("running"), fixture("succeeded")
    api = FakeApi([(running["job"], running["pods"]), (done["job"], done["pods"])])
    api.logs["etl-demo-orders-20240115-k3x9q-r4n5g"] = [b"line one\nline ", b"two\n", b"tail"]
    lines: list[str] = []
    outcome = launcher(api, Timeouts(log_drain=5), lines)[0].run(MANIFEST)
    assert outcome.reason is OutcomeReason.SUCCEEDED
    assert api.created == [MANIFEST]
    assert "line one" in lines and "line two" in lines and "tail" in lines
    assert api.deleted == []  # finished Jobs are left to ttlSecondsAfterFinished
    assert lines[-1].startswith("Job etl-dev/etl-demo-orders-20240115-k3x9q: Succeeded")


def test_unschedulable_pod_ends_the_wait_and_deletes_the_job() -> None:
    fx = fixture("unschedulable_not_yet")
    api = FakeApi([(fx["job"], fx["pods"])])
    lines: list[str] = []
    run, clock = launcher(api, Timeouts(unschedulable=120, poll_interval=5), lines)
    outcome = run.run(MANIFEST)
    assert outcome.reason is OutcomeReason.UNSCHEDULABLE
    assert 100 <= clock.t <= 130  # pod unschedulable since 03:00:02 == start of fake time
    assert api.deleted == [(MANIFEST["metadata"]["name"], "etl-dev", "Background")]
    assert api.log_requests == []  # the container never started


def test_a_job_that_never_gets_a_pod_times_out() -> None:
    fx = fixture("running")
    api = FakeApi([(fx["job"], [])])
    lines: list[str] = []
    run, clock = launcher(api, Timeouts(no_pod=30, poll_interval=10), lines)
    outcome = run.run(MANIFEST)
    assert outcome.reason is OutcomeReason.TIMEOUT
    assert "no pod was created" in outcome.message
    assert clock.t == 30
    assert api.deleted


def test_total_timeout_defaults_to_the_deadline_plus_margin_and_can_keep_the_job() -> None:
    fx = fixture("running")
    api = FakeApi([(fx["job"], fx["pods"])])
    lines: list[str] = []
    t = FakeTime()
    run = JobLauncher(
        api,
        api,
        timeouts=Timeouts(poll_interval=60, log_drain=0),
        emit=lines.append,
        keep_stuck=True,
        clock=t.clock,
        sleep=t.sleep,
        now=t.now,
    )
    outcome = run.run(MANIFEST)
    assert outcome.reason is OutcomeReason.TIMEOUT
    assert t.t == 360  # 60 s deadline + 300 s margin, polled every 60 s
    assert api.deleted == []


def test_backfill_pods_get_index_prefixed_logs() -> None:
    fx = fixture("indexed_failed_index")
    api = FakeApi([(fx["job"], fx["pods"])])
    failed_pod = next(p["metadata"]["name"] for p in fx["pods"] if p["status"]["phase"] == "Failed")
    api.logs[failed_pod] = [b"boom\n"]
    manifest = copy.deepcopy(MANIFEST)
    manifest["spec"]["completionMode"] = "Indexed"
    manifest["metadata"]["name"] = fx["job"]["metadata"]["name"]
    lines: list[str] = []
    api_list = api.list_namespaced_pod

    def list_pods(namespace: str, **kw: Any) -> Any:
        kw["label_selector"] = f"job-name={MANIFEST['metadata']['name']}"
        return api_list(namespace, **kw)

    api.list_namespaced_pod = list_pods  # type: ignore[method-assign]
    outcome = launcher(api, Timeouts(log_drain=5), lines)[0].run(manifest)
    assert outcome.failed_indexes == "2"
    assert "[2] boom" in lines
    assert len(api.log_requests) == 7


class ApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def test_transient_api_errors_are_retried() -> None:
    running, done = fixture("running"), fixture("succeeded")
    api = FakeApi([(running["job"], running["pods"]), (done["job"], done["pods"])])
    real_read = api.read_namespaced_job
    failures = iter([ApiError(500), ApiError(503)])

    def flaky_read(name: str, namespace: str, **kw: Any) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return real_read(name, namespace, **kw)

    api.read_namespaced_job = flaky_read  # type: ignore[method-assign]
    lines: list[str] = []
    outcome = launcher(api, Timeouts(log_drain=1), lines)[0].run(MANIFEST)
    assert outcome.reason is OutcomeReason.SUCCEEDED
    assert sum("API error" in line for line in lines) == 2


def test_persistent_api_errors_raise() -> None:
    api = FakeApi([])

    def broken(name: str, namespace: str, **kw: Any) -> Any:
        raise ApiError(500)

    api.read_namespaced_job = broken  # type: ignore[method-assign]
    run = launcher(api, Timeouts(), [])[0]
    with pytest.raises(ApiError):
        run.run(MANIFEST)


def test_a_deleted_job_ends_the_wait() -> None:
    api = FakeApi([])

    def gone(name: str, namespace: str, **kw: Any) -> Any:
        raise ApiError(404)

    api.read_namespaced_job = gone  # type: ignore[method-assign]
    outcome = launcher(api, Timeouts(), [])[0].run(MANIFEST)
    assert outcome.reason is OutcomeReason.FAILED and "no longer exists" in outcome.message
