"""Run transfers as Kubernetes Jobs: manifests, outcome mapping, launcher, credentials, image.

* `etl_framework.k8s.manifests`: pure functions, `TransferSpec` -> batch/v1 Job dict
  (`build_job`, `build_backfill_job` for an Indexed backfill, `to_yaml`).
* `etl_framework.k8s.outcome`: pure `classify(job, pods)` -> `JobOutcome` (Succeeded,
  Failed with exit code, OOMKilled, DeadlineExceeded, ImagePullBackOff, Unschedulable,
  Evicted, ...).
* `etl_framework.k8s.launcher`: create a Job, stream its logs, wait with timeouts
  (needs the ``k8s`` extra; imported lazily).
* `etl_framework.k8s.credentials`: key files from GCS -> Kubernetes Secret.
* `etl_framework.k8s.image`: build/run/push the image with docker or podman.

``python -m etl_framework.k8s render --env dev --transfer demo_orders --date 20240115``
prints a Job; ``... exec-index -- NAME delta CONFIG`` is what a backfill pod runs.
This package imports neither the kubernetes client nor any cloud SDK at import time.
"""

from __future__ import annotations

from etl_framework.k8s.manifests import (
    BACKFILL_START_ENV,
    COMPLETION_INDEX_ENV,
    CONTAINER_NAME,
    build_backfill_job,
    build_job,
    build_pod_spec,
    execution_date_from_index,
    pod_failure_policy,
    to_yaml,
)
from etl_framework.k8s.outcome import JobOutcome, OutcomeReason, classify

__all__ = [
    "BACKFILL_START_ENV",
    "COMPLETION_INDEX_ENV",
    "CONTAINER_NAME",
    "JobOutcome",
    "OutcomeReason",
    "build_backfill_job",
    "build_job",
    "build_pod_spec",
    "classify",
    "execution_date_from_index",
    "pod_failure_policy",
    "to_yaml",
]
