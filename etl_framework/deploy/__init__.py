"""Deploy: what turns a transfer into something that runs elsewhere (a pod on Kubernetes).

One path, from the deployment file to a running pod::

    gke_deploy/transfers.yaml
        |  spec.load_transfers / spec.get_transfer   (defaults + environments.$ETL_ENV + transfer)
        v
    TransferSpec                                     (spec.py: pure pydantic, no SDK)
        |  manifests.build_pod_spec                  THE pod: container, env, volumes,
        |                                            security context, Cloud SQL proxy sidecar
        +--> manifests.build_job            a batch/v1 Job (one run)
        +--> manifests.build_backfill_job   an Indexed Job: one delta window per index (its
        |                                   pods run ``python -m etl_framework.deploy exec-index``)
        +--> airflow.build_dag(s)           one KubernetesPodOperator DAG per transfer; its pod
        |                                   is the same ``build_pod_spec`` dict, converted once
        v
    launcher.JobLauncher                    create a Job, stream its logs, wait;
                                            outcome.classify says why it ended

Modules:

* `etl_framework.deploy.spec`: the deployment file -> `TransferSpec` (validation,
  overlays, secrets only as ``secretKeyRef``).
* `etl_framework.deploy.manifests`: pure functions, `TransferSpec` -> pod spec and Job
  dicts (`build_pod_spec`, `build_job`, `build_backfill_job`, `to_yaml`).
* `etl_framework.deploy.airflow`: the DAGs (the only module that imports Airflow).
* `etl_framework.deploy.airflow_local`: the DAGs' local profile (``pipeline`` in a
  subprocess of the Airflow worker instead of a pod; ``invoke airflow-local``).
* `etl_framework.deploy.launcher`: create/watch a Job (needs the ``k8s`` extra; the
  kubernetes client is imported lazily).
* `etl_framework.deploy.outcome`: pure ``classify(job, pods)`` -> `JobOutcome`.
* `etl_framework.deploy.credentials`: key files from GCS -> a Kubernetes Secret.
* `etl_framework.deploy.image`: build/run/push the image with docker or podman.
* ``python -m etl_framework.deploy``: ``render``, ``render-examples``, ``image-ref`` and
  ``exec-index`` (what a backfill pod runs), see `etl_framework.deploy.__main__`.

Importing this package imports neither Airflow, nor the kubernetes client, nor a cloud SDK.
"""

from __future__ import annotations

from etl_framework.deploy.manifests import (
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
from etl_framework.deploy.outcome import JobOutcome, OutcomeReason, classify
from etl_framework.deploy.spec import TransferSpec, get_transfer, load_transfers

__all__ = [
    "BACKFILL_START_ENV",
    "COMPLETION_INDEX_ENV",
    "CONTAINER_NAME",
    "JobOutcome",
    "OutcomeReason",
    "TransferSpec",
    "build_backfill_job",
    "build_job",
    "build_pod_spec",
    "classify",
    "execution_date_from_index",
    "get_transfer",
    "load_transfers",
    "pod_failure_policy",
    "to_yaml",
]
