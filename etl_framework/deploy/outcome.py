"""What happened to a Job: a pure function over the Job and Pod objects the API returns.

`classify` reads plain dicts in the API's JSON shape (camelCase keys, as
``kubectl get -o json`` prints and the launcher obtains with
``ApiClient().sanitize_for_serialization``), so it is tested against recorded API objects
without a cluster. It returns None while the Job is still making progress, otherwise a
`JobOutcome` whose `OutcomeReason` says why it ended:

=====================  ====================================================  =========
reason                 seen as                                               exit code
=====================  ====================================================  =========
``Succeeded``          Job condition ``Complete``                            0
``Failed``             Job ``Failed``; ``pipeline`` exited non-zero          its code
``OOMKilled``          container terminated with reason ``OOMKilled``        137
``DeadlineExceeded``   Job ``Failed`` with reason ``DeadlineExceeded``       124
``ImagePullBackOff``   container waiting on ``ImagePullBackOff``,            3
                       ``ErrImageNeverPull`` or ``InvalidImageName``
``CreateContainerConfigError``  a Secret/ConfigMap the pod needs is missing  3
``Unschedulable``      pod ``PodScheduled=False/Unschedulable`` for longer   75
                       than the caller's timeout
``Evicted``            the last pod was evicted (node pressure) or disrupted 75
``Timeout``            the launcher stopped waiting (`timeout_outcome`)      124
=====================  ====================================================  =========

The exit code column is what ``invoke local-deploy-gke`` exits with (`JobOutcome.exit_code`):
the process's own code where there is one, 124 (like ``timeout(1)``) for deadlines, 75
(EX_TEMPFAIL, worth a retry) for capacity problems, 3 (config) for a wrong image or a
missing Secret.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from etl_framework.deploy.manifests import CONTAINER_NAME

OOM_EXIT_CODE = 137
DEADLINE_EXIT_CODE = 124
CAPACITY_EXIT_CODE = 75
CONFIG_EXIT_CODE = 3

IMAGE_PULL_REASONS = frozenset({"ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"})
"""Waiting reasons that will not fix themselves (``ErrImagePull`` alone is retried first)."""
CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})
EVICTION_REASONS = frozenset(
    {
        "TerminationByKubelet",
        "EvictionByEvictionAPI",
        "PreemptionByScheduler",
        "DeletionByTaintManager",
    }
)
"""``DisruptionTarget`` reasons that mean the node or cluster took the pod away. Others
(``DeadlineExceeded``, ``PodFailurePolicy``...) mean the Job controller stopped it."""


class OutcomeReason(StrEnum):
    """Why a Job ended (or why the launcher gave up on it)."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    OOM_KILLED = "OOMKilled"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    IMAGE_PULL_BACKOFF = "ImagePullBackOff"
    CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
    UNSCHEDULABLE = "Unschedulable"
    EVICTED = "Evicted"
    TIMEOUT = "Timeout"


_EXIT_CODES = {
    OutcomeReason.SUCCEEDED: 0,
    OutcomeReason.OOM_KILLED: OOM_EXIT_CODE,
    OutcomeReason.DEADLINE_EXCEEDED: DEADLINE_EXIT_CODE,
    OutcomeReason.IMAGE_PULL_BACKOFF: CONFIG_EXIT_CODE,
    OutcomeReason.CONTAINER_CONFIG_ERROR: CONFIG_EXIT_CODE,
    OutcomeReason.UNSCHEDULABLE: CAPACITY_EXIT_CODE,
    OutcomeReason.EVICTED: CAPACITY_EXIT_CODE,
    OutcomeReason.TIMEOUT: DEADLINE_EXIT_CODE,
}


@dataclass(frozen=True)
class JobOutcome:
    """The end of a Job, with the evidence that decided it."""

    reason: OutcomeReason
    message: str
    """Human-readable: what happened and where to look."""
    container_exit_code: int | None = None
    """``pipeline``'s own exit code when it ran and ended."""
    pod: str | None = None
    """The pod that decided the outcome."""
    summary: Mapping[str, Any] | None = None
    """The JSON run summary ``pipeline`` wrote to its termination log, if any."""
    failed_indexes: str | None = None
    """Indexed Jobs: the completion indexes that failed (API format, e.g. ``"1,3-5"``)."""
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.reason is OutcomeReason.SUCCEEDED

    @property
    def exit_code(self) -> int:
        """Process exit code for whoever launched the Job (see the module table)."""
        if self.reason is OutcomeReason.FAILED:
            return self.container_exit_code or 1
        return _EXIT_CODES[self.reason]

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.message}"


def _get(obj: Mapping[str, Any] | None, *path: str) -> Any:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _parse_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str) or not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in _get(obj, "status", "conditions") or []:
        if cond.get("type") == kind and str(cond.get("status")) == "True":
            return dict(cond)
    return None


def _pod_name(pod: Mapping[str, Any]) -> str:
    return str(_get(pod, "metadata", "name") or "?")


def _container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = _get(pod, "status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _main_status(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for cs in _get(pod, "status", "containerStatuses") or []:
        if cs.get("name") == CONTAINER_NAME:
            return dict(cs)
    return None


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    cs = _main_status(pod)
    if cs is None:
        return None
    term = _get(cs, "state", "terminated") or _get(cs, "lastState", "terminated")
    return dict(term) if isinstance(term, Mapping) else None


def parse_summary(message: Any) -> dict[str, Any] | None:
    """The run summary from a termination message, or None if it is not our JSON."""
    if not isinstance(message, str) or not message.strip().startswith("{"):
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _finish_time(pod: Mapping[str, Any]) -> dt.datetime:
    term = _terminated(pod) or {}
    for value in (term.get("finishedAt"), _get(pod, "metadata", "creationTimestamp")):
        parsed = _parse_time(value)
        if parsed is not None:
            return parsed
    return dt.datetime.min.replace(tzinfo=dt.UTC)


def _is_evicted(pod: Mapping[str, Any]) -> bool:
    if _get(pod, "status", "reason") == "Evicted":
        return True
    cond = _condition(pod, "DisruptionTarget")
    return cond is not None and cond.get("reason") in EVICTION_REASONS


def _killed_by_job_controller(pod: Mapping[str, Any]) -> bool:
    """A pod the Job controller stopped because the Job had already failed."""
    cond = _condition(pod, "DisruptionTarget")
    return cond is not None and cond.get("reason") not in EVICTION_REASONS


def _failed_pod_outcome(pod: Mapping[str, Any], job_message: str) -> JobOutcome:
    name = _pod_name(pod)
    term = _terminated(pod)
    if _is_evicted(pod):
        cond = _condition(pod, "DisruptionTarget") or {}
        why = _get(pod, "status", "message") or cond.get("message") or "evicted"
        return JobOutcome(
            OutcomeReason.EVICTED,
            f"pod {name} was evicted: {why}",
            container_exit_code=(term or {}).get("exitCode"),
            pod=name,
        )
    if term is None:
        return JobOutcome(
            OutcomeReason.FAILED, f"{job_message} (pod {name}: no exit status)", pod=name
        )
    exit_code = term.get("exitCode")
    summary = parse_summary(term.get("message"))
    if term.get("reason") == "OOMKilled":
        return JobOutcome(
            OutcomeReason.OOM_KILLED,
            f"pod {name}: container {CONTAINER_NAME!r} was killed for exceeding its memory"
            " limit (OOMKilled): raise resources.limits.memory or process in smaller batches",
            container_exit_code=exit_code,
            pod=name,
            summary=summary,
        )
    error = _get(summary, "error") if summary else None
    text = f"pod {name}: {CONTAINER_NAME!r} exited with code {exit_code}"
    if error:
        text += f": {error}"
    elif term.get("message") and summary is None:
        # FallbackToLogsOnError: the tail of the log is the best clue we have
        text += f"; last log lines:\n{str(term['message']).rstrip()}"
    return JobOutcome(
        OutcomeReason.FAILED,
        f"{text} ({job_message})",
        container_exit_code=exit_code,
        pod=name,
        summary=summary,
    )


def _succeeded(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> JobOutcome:
    done = [p for p in pods if _get(p, "status", "phase") == "Succeeded"]
    done.sort(key=_finish_time)
    pod = done[-1] if done else None
    summary = parse_summary((_terminated(pod) or {}).get("message")) if pod else None
    count = _get(job, "status", "succeeded") or len(done)
    message = f"{count} pod(s) completed"
    if summary:
        message += ": " + ", ".join(
            f"{k}={summary[k]}"
            for k in ("rows_read", "rows_written", "duration_seconds")
            if k in summary
        )
    return JobOutcome(
        OutcomeReason.SUCCEEDED,
        message,
        container_exit_code=0,
        pod=_pod_name(pod) if pod else None,
        summary=summary,
    )


def _failed(
    job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], cond: Mapping[str, Any]
) -> JobOutcome:
    reason = cond.get("reason") or "Failed"
    job_message = f"Job failed: {reason}" + (f" ({cond['message']})" if cond.get("message") else "")
    failed_indexes = _get(job, "status", "failedIndexes") or None
    if reason == "DeadlineExceeded":
        return JobOutcome(
            OutcomeReason.DEADLINE_EXCEEDED,
            f"{cond.get('message') or 'the Job ran past activeDeadlineSeconds'}"
            f" (activeDeadlineSeconds={_get(job, 'spec', 'activeDeadlineSeconds')})",
            failed_indexes=failed_indexes,
        )
    failed = [p for p in pods if _get(p, "status", "phase") == "Failed"]
    if not failed:
        return JobOutcome(OutcomeReason.FAILED, job_message, failed_indexes=failed_indexes)
    # the pod that decided it, not the ones the controller stopped afterwards
    decisive = [p for p in failed if not _killed_by_job_controller(p)] or failed
    decisive.sort(key=_finish_time)
    outcome = _failed_pod_outcome(decisive[-1], job_message)
    if failed_indexes:
        outcome = JobOutcome(
            outcome.reason,
            f"{outcome.message}; failed indexes: {failed_indexes}",
            container_exit_code=outcome.container_exit_code,
            pod=outcome.pod,
            summary=outcome.summary,
            failed_indexes=failed_indexes,
        )
    return outcome


def _stuck(
    pods: Sequence[Mapping[str, Any]], now: dt.datetime, unschedulable_timeout: float
) -> JobOutcome | None:
    for pod in pods:
        name = _pod_name(pod)
        for cs in _container_statuses(pod):
            waiting = _get(cs, "state", "waiting") or {}
            why = waiting.get("reason")
            if why in IMAGE_PULL_REASONS:
                return JobOutcome(
                    OutcomeReason.IMAGE_PULL_BACKOFF,
                    f"pod {name}: container {cs.get('name')!r} cannot pull image"
                    f" {cs.get('image')!r}: {why}: {waiting.get('message', '')}".rstrip(": "),
                    pod=name,
                )
            if why in CONFIG_REASONS:
                return JobOutcome(
                    OutcomeReason.CONTAINER_CONFIG_ERROR,
                    f"pod {name}: container {cs.get('name')!r} cannot start: {why}:"
                    f" {waiting.get('message', '')}",
                    pod=name,
                )
        if _get(pod, "status", "phase") != "Pending":
            continue
        for cond in _get(pod, "status", "conditions") or []:
            if (
                cond.get("type") == "PodScheduled"
                and str(cond.get("status")) == "False"
                and cond.get("reason") == "Unschedulable"
            ):
                since = _parse_time(cond.get("lastTransitionTime")) or _parse_time(
                    _get(pod, "metadata", "creationTimestamp")
                )
                waited = (now - since).total_seconds() if since else 0.0
                if waited >= unschedulable_timeout:
                    return JobOutcome(
                        OutcomeReason.UNSCHEDULABLE,
                        f"pod {name} could not be scheduled for {waited:.0f} s:"
                        f" {cond.get('message', '')}",
                        pod=name,
                        details={"waited_seconds": waited},
                    )
    return None


def classify(
    job: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    *,
    now: dt.datetime,
    unschedulable_timeout: float = 300.0,
) -> JobOutcome | None:
    """Decide a Job's outcome from its API objects; None while it is still in progress.

    Args:
        job: The batch/v1 Job (API JSON).
        pods: The Job's pods (label ``job-name=<job>``), in any order.
        now: The current time (UTC), for the unschedulable timeout.
        unschedulable_timeout: Seconds a pod may stay unschedulable before the Job is
            declared `OutcomeReason.UNSCHEDULABLE` (it would otherwise wait forever).
    """
    if _condition(job, "Complete") or _condition(job, "SuccessCriteriaMet"):
        return _succeeded(job, pods)
    failed = _condition(job, "Failed") or _condition(job, "FailureTarget")
    if failed:
        return _failed(job, pods, failed)
    return _stuck(pods, now, unschedulable_timeout)


def timeout_outcome(job_name: str, waited: float, last_seen: str = "") -> JobOutcome:
    """The launcher's own give-up outcome (it never waits forever)."""
    message = f"stopped waiting for Job {job_name} after {waited:.0f} s"
    if last_seen:
        message += f"; last seen: {last_seen}"
    return JobOutcome(OutcomeReason.TIMEOUT, message)


def describe_progress(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> str:
    """One line about where a running Job is (for logs and timeouts)."""
    status = _get(job, "status") or {}
    counts = ", ".join(f"{k}={status.get(k) or 0}" for k in ("active", "succeeded", "failed"))
    phases = sorted({str(_get(p, "status", "phase")) for p in pods})
    return f"{counts}; pod phases: {', '.join(phases) or 'no pods yet'}"
