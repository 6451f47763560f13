"""Run a Job on a cluster: create it, stream its logs, wait (with timeouts), report why it ended.

The kubernetes client is imported lazily (extra ``k8s``); everything that decides
something is pure and lives in `etl_framework.deploy.manifests` and
`etl_framework.deploy.outcome`. The launcher never waits forever:

* a pod that stays unschedulable longer than `Timeouts.unschedulable` ends the wait
  (`OutcomeReason.UNSCHEDULABLE`), as do image pull and missing-Secret errors;
* if no pod appears within `Timeouts.no_pod`, or the whole wait exceeds `Timeouts.total`
  (default: the Job's ``activeDeadlineSeconds`` plus a margin), it stops with
  `OutcomeReason.TIMEOUT`;
* every API call has a request timeout; log streams run in daemon threads and are
  abandoned, not awaited, once the outcome is known.

A Job that cannot make progress (stuck or timed out) is deleted, with its pods, unless
``keep_stuck=True``; finished Jobs are left to ``ttlSecondsAfterFinished``.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from etl_framework.deploy.manifests import CONTAINER_NAME, Manifest
from etl_framework.deploy.outcome import (
    JobOutcome,
    OutcomeReason,
    classify,
    describe_progress,
    timeout_outcome,
)
from etl_framework.exceptions import ConfigError

_STUCK = frozenset(
    {
        OutcomeReason.UNSCHEDULABLE,
        OutcomeReason.IMAGE_PULL_BACKOFF,
        OutcomeReason.CONTAINER_CONFIG_ERROR,
        OutcomeReason.TIMEOUT,
    }
)
MAX_API_ERRORS = 5
"""Consecutive failed polls before the launcher gives up with the API's error."""
TOTAL_MARGIN_SECONDS = 300.0
"""Added to ``activeDeadlineSeconds`` for the default total wait (pod start, log flush)."""


@dataclass(frozen=True)
class Timeouts:
    """How long the launcher waits for each thing (seconds)."""

    unschedulable: float = 300.0
    no_pod: float = 300.0
    total: float | None = None
    """None: the Job's activeDeadlineSeconds + `TOTAL_MARGIN_SECONDS`."""
    poll_interval: float = 2.0
    request: float = 30.0
    log_drain: float = 10.0
    """After the outcome, how long to let log streams flush their last lines."""


def missing_kubernetes_error() -> Exception:
    """The error raised when the kubernetes client is not installed."""
    from etl_framework.exceptions import missing_extra_error

    return missing_extra_error("kubernetes", "k8s")


def load_clients(context: str | None = None) -> tuple[Any, Any]:
    """(BatchV1Api, CoreV1Api) from in-cluster config or ``~/.kube/config``."""
    try:
        from kubernetes import client, config
    except ImportError as exc:
        raise missing_kubernetes_error() from exc
    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config(context=context)
        except (config.ConfigException, OSError) as exc:
            raise ConfigError(
                f"no Kubernetes cluster to talk to ({exc}): run `gcloud container clusters"
                " get-credentials CLUSTER` or pass --context"
            ) from exc
    return client.BatchV1Api(), client.CoreV1Api()


def _to_dict(obj: Any) -> Any:
    if obj is None or isinstance(obj, Mapping | list | str | int | float | bool):
        return obj
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(obj)


class _LogFollower:
    """Streams one pod's ``pipeline`` log in a daemon thread."""

    def __init__(
        self, core: Any, pod: str, namespace: str, emit: Callable[[str], None], prefix: str
    ) -> None:
        self.pod = pod
        self._core = core
        self._namespace = namespace
        self._emit = emit
        self._prefix = prefix
        self.thread = threading.Thread(target=self._run, name=f"logs-{pod}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            stream = self._core.read_namespaced_pod_log(
                self.pod,
                self._namespace,
                container=CONTAINER_NAME,
                follow=True,
                _preload_content=False,
            )
            pending = b""
            for chunk in stream.stream(4096, decode_content=False):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._emit(self._prefix + line.decode("utf-8", "replace"))
            if pending:
                self._emit(self._prefix + pending.decode("utf-8", "replace"))
        except Exception as exc:  # logs are best effort, the outcome is not
            self._emit(f"{self._prefix}(log stream of {self.pod} ended: {exc})")


def _default_emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class JobLauncher:
    """Creates Jobs and follows them to their `JobOutcome`.

    Args:
        batch: A ``kubernetes.client.BatchV1Api`` (or anything with the same methods).
        core: A ``kubernetes.client.CoreV1Api``.
        timeouts: See `Timeouts`.
        emit: Receives each log line and progress message (default: stdout).
        keep_stuck: Leave a stuck or timed-out Job in place for inspection.
        clock, sleep, now: Injected for tests.
    """

    def __init__(
        self,
        batch: Any,
        core: Any,
        *,
        timeouts: Timeouts | None = None,
        emit: Callable[[str], None] | None = None,
        keep_stuck: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.batch = batch
        self.core = core
        self.timeouts = timeouts or Timeouts()
        self._lock = threading.Lock()
        self._emit_raw = emit or _default_emit
        self.keep_stuck = keep_stuck
        self._clock = clock
        self._sleep = sleep
        self._now = now

    def emit(self, line: str) -> None:
        with self._lock:
            self._emit_raw(line)

    def create(self, manifest: Manifest) -> str:
        """Submit a Job; returns its name as the API server recorded it."""
        namespace = manifest["metadata"]["namespace"]
        created = _to_dict(
            self.batch.create_namespaced_job(
                namespace, manifest, _request_timeout=self.timeouts.request
            )
        )
        name = str(created["metadata"]["name"])
        self.emit(f"created Job {namespace}/{name}")
        return name

    def run(self, manifest: Manifest) -> JobOutcome:
        """Create the Job, follow it to the end and return its outcome."""
        name = self.create(manifest)
        deadline = manifest["spec"].get("activeDeadlineSeconds")
        total = self.timeouts.total
        if total is None:
            total = float(deadline or 3600) + TOTAL_MARGIN_SECONDS
        indexed = manifest["spec"].get("completionMode") == "Indexed"
        return self.wait(name, manifest["metadata"]["namespace"], total=total, indexed=indexed)

    def _poll(self, name: str, namespace: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        request = self.timeouts.request
        job = _to_dict(self.batch.read_namespaced_job(name, namespace, _request_timeout=request))
        pod_list = _to_dict(
            self.core.list_namespaced_pod(
                namespace, label_selector=f"job-name={name}", _request_timeout=request
            )
        )
        return job, list(pod_list.get("items") or [])

    def wait(self, name: str, namespace: str, *, total: float, indexed: bool = False) -> JobOutcome:
        """Poll a Job until `classify` decides, following each pod's log.

        API errors are retried (`MAX_API_ERRORS` in a row at most, within the total
        wait); a Job that disappears (HTTP 404, e.g. deleted by someone else) ends the
        wait as `OutcomeReason.FAILED`.
        """
        started = self._clock()
        followers: dict[str, _LogFollower] = {}
        last_progress = ""
        errors = 0
        job: dict[str, Any] = {}
        pods: list[dict[str, Any]] = []
        while True:
            outcome: JobOutcome | None = None
            try:
                job, pods = self._poll(name, namespace)
                errors = 0
            except Exception as exc:  # the client raises ApiException, urllib3 errors, ...
                if getattr(exc, "status", None) == 404:
                    outcome = JobOutcome(
                        OutcomeReason.FAILED, f"Job {namespace}/{name} no longer exists"
                    )
                else:
                    errors += 1
                    self.emit(f"Job {namespace}/{name}: API error {errors}/{MAX_API_ERRORS}: {exc}")
                    if errors >= MAX_API_ERRORS:
                        raise
            if outcome is None and errors == 0:
                for pod in pods:
                    self._follow(pod, namespace, followers, indexed)
                outcome = classify(
                    job, pods, now=self._now(), unschedulable_timeout=self.timeouts.unschedulable
                )
            waited = self._clock() - started
            progress = describe_progress(job, pods)
            if outcome is None and waited >= total:
                outcome = timeout_outcome(name, waited, progress)
            if outcome is None and not pods and waited >= self.timeouts.no_pod:
                outcome = timeout_outcome(name, waited, "no pod was created: " + progress)
            if outcome is not None:
                self._drain(followers)
                if outcome.reason in _STUCK and not self.keep_stuck:
                    self.delete(name, namespace)
                self.emit(f"Job {namespace}/{name}: {outcome}")
                return outcome
            if progress != last_progress and errors == 0:
                self.emit(f"Job {namespace}/{name}: {progress}")
                last_progress = progress
            self._sleep(self.timeouts.poll_interval)

    def _follow(
        self,
        pod: Mapping[str, Any],
        namespace: str,
        followers: dict[str, _LogFollower],
        indexed: bool,
    ) -> None:
        meta = pod.get("metadata") or {}
        pod_name = str(meta.get("name"))
        if pod_name in followers:
            return
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        started = any(
            cs.get("name") == CONTAINER_NAME
            and (
                (cs.get("state") or {}).get("running") or (cs.get("state") or {}).get("terminated")
            )
            for cs in statuses
        )
        if not started:
            return
        prefix = ""
        if indexed:
            index = (meta.get("annotations") or {}).get(
                "batch.kubernetes.io/job-completion-index", "?"
            )
            prefix = f"[{index}] "
        followers[pod_name] = _LogFollower(self.core, pod_name, namespace, self.emit, prefix)

    def _drain(self, followers: Mapping[str, _LogFollower]) -> None:
        end = self._clock() + self.timeouts.log_drain
        for follower in followers.values():
            follower.thread.join(max(0.0, end - self._clock()))

    def delete(self, name: str, namespace: str) -> None:
        """Delete a Job and its pods (foreground would block; background does not)."""
        try:
            self.batch.delete_namespaced_job(
                name,
                namespace,
                propagation_policy="Background",
                _request_timeout=self.timeouts.request,
            )
            self.emit(f"deleted Job {namespace}/{name}")
        except Exception as exc:  # the outcome matters more than the cleanup
            self.emit(f"could not delete Job {namespace}/{name}: {exc}")


def run_job(
    manifest: Manifest,
    *,
    context: str | None = None,
    timeouts: Timeouts | None = None,
    emit: Callable[[str], None] | None = None,
    keep_stuck: bool = False,
) -> JobOutcome:
    """Submit ``manifest`` to the cluster of ``context`` and follow it to its outcome."""
    batch, core = load_clients(context)
    launcher = JobLauncher(batch, core, timeouts=timeouts, emit=emit, keep_stuck=keep_stuck)
    return launcher.run(manifest)
