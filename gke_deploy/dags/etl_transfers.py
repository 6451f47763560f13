"""Airflow DAG file: one DAG per transfer listed in transfers.yaml.

Copy this file into the Airflow deployment's DAG folder together with
``transfers.yaml`` (next to it), or point ``$ETL_TRANSFERS_FILE`` at the transfers
file. ``$ETL_ENV`` selects the environment overlay. The scheduler needs
``pip install 'etl_framework[airflow]'``; the transfers themselves run in the job
image as Kubernetes pods, so no job dependency is installed next to Airflow.

``ETL_AIRFLOW_PROFILE=local`` runs each task's ``pipeline`` in a subprocess of the
worker instead of a pod, for an Airflow on one machine (``invoke airflow-local``; see
``etl_framework.deploy.airflow_local`` for its settings).

A broken transfers file fails this module's import with an error that lists every
problem, which Airflow shows as an import error of this DAG file.
"""

from __future__ import annotations

import os
from pathlib import Path

from etl_framework.deploy.airflow import build_dags
from etl_framework.deploy.airflow_local import LocalProfile

TRANSFERS_FILE_VAR = "ETL_TRANSFERS_FILE"


def transfers_file() -> Path:
    """``$ETL_TRANSFERS_FILE``, else transfers.yaml next to this file or one folder up."""
    configured = os.environ.get(TRANSFERS_FILE_VAR)
    if configured:
        return Path(configured)
    here = Path(__file__).resolve().parent
    for candidate in (here / "transfers.yaml", here.parent / "transfers.yaml"):
        if candidate.exists():
            return candidate
    return here / "transfers.yaml"  # the error names where we looked first


# Module-level DAG objects are what Airflow's DagBag collects.
globals().update(build_dags(transfers_file(), local=LocalProfile.from_environ()))
