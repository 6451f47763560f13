"""The DAGs' local profile (pure; the task itself runs in tests/integration/airflow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_framework import runner
from etl_framework.deploy import airflow_local
from etl_framework.deploy.airflow_local import LocalProfile
from etl_framework.deploy.spec import get_transfer
from etl_framework.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[3]
TRANSFERS = REPO / "gke_deploy" / "transfers.yaml"


def test_the_profile_is_selected_by_the_environment() -> None:
    assert LocalProfile.from_environ({}) is None
    assert LocalProfile.from_environ({"ETL_AIRFLOW_PROFILE": "kubernetes"}) is None
    profile = LocalProfile.from_environ(
        {
            "ETL_AIRFLOW_PROFILE": "local",
            "ETL_PIPELINE_COMMAND": "'/opt/my venv/bin/python' -m etl_framework",
            "ETL_LOCAL_CONFIG": "jobs/config/local.yaml",
            "ETL_LOCAL_CWD": "/srv/etl",
        }
    )
    assert profile == LocalProfile(
        pipeline_command=("/opt/my venv/bin/python", "-m", "etl_framework"),
        config="jobs/config/local.yaml",
        cwd="/srv/etl",
    )
    assert LocalProfile.from_environ(profile.environ()) == profile
    assert LocalProfile.from_environ({"ETL_AIRFLOW_PROFILE": "local"}) == LocalProfile()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ETL_AIRFLOW_PROFILE": "laptop"}, "'laptop' is not a profile: use one of kubernetes"),
        ({"ETL_AIRFLOW_PROFILE": "local", "ETL_PIPELINE_COMMAND": ""}, "is empty"),
        ({"ETL_AIRFLOW_PROFILE": "local", "ETL_PIPELINE_COMMAND": "'x"}, "cannot be split"),
        (
            {"ETL_AIRFLOW_PROFILE": "local", "ETL_LOCAL_CONFIG": "{{ var.value.cfg }}"},
            "no Jinja template markers",
        ),
    ],
)
def test_a_bad_profile_is_one_clear_config_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LocalProfile.from_environ(environ)


def test_the_argv_is_the_pods_with_the_local_config() -> None:
    spec = get_transfer("demo_orders", TRANSFERS, env="prod")
    profile = LocalProfile(pipeline_command=("pipeline",), config="jobs/config/local.yaml")
    pod_args = spec.pipeline_args("20240115")
    assert pod_args[3] == "gs://my-etl-config/config.yaml"
    assert profile.argv(spec, "20240115") == [
        "pipeline",
        "20240115",
        "demo_orders",
        "delta",
        "jobs/config/local.yaml",
    ]
    assert LocalProfile().arguments(spec, "20240115") == pod_args  # no config: the spec's
    upstream = spec.model_copy(update={"depends_on": ["orders"]})
    assert profile.arguments(upstream, "20240115")[-2:] == ["--depends-on", "orders"]


def test_the_run_id_variable_is_the_runners() -> None:
    # the DAG side cannot import the runner (the scheduler lacks its dependencies)
    assert airflow_local.ENV_ORCHESTRATOR_RUN_ID == runner.ENV_ORCHESTRATOR_RUN_ID
