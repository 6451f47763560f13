"""The generated DAGs, loaded by real Airflow (3.3.2 in .venv-airflow, see script/setup/airflow).

Each test runs ``tests/support/airflow_checker.py`` with the Airflow venv's Python in a
subprocess (Airflow never enters the project's venv) and asserts on the JSON it prints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from etl_framework.deploy import manifests
from etl_framework.deploy.spec import load_transfers
from tests.support.airflow_dags import (
    DAG_FILE,
    REPO_ROOT,
    SENTINEL,
    dag_folder,
    require_airflow_venv,
    run_checker,
)

pytestmark = pytest.mark.airflow

EXECUTION_DATE_TEMPLATE = (
    "{{ (data_interval_start if data_interval_start is defined and data_interval_start"
    " else dag_run.run_after) | ds_nodash }}"
)
"""etl_framework.deploy.airflow.EXECUTION_DATE_TEMPLATE (that module needs Airflow to import)."""
TRANSFERS = """
defaults:
  image: europe-west2-docker.pkg.dev/test-project/etl/etl-framework
  tag: "1.4.0"
  namespace: etl
  service_account: etl-runner
  credentials_secret: etl-credentials
  env: {ETL_ENV: prod, LOG_FORMAT: json}
  resources:
    requests: {cpu: 250m, memory: 256Mi}
    limits: {cpu: "1", memory: 1Gi}
  retries: 3
  retry_delay_minutes: 2
  active_deadline_seconds: 1800
environments:
  dev: {namespace: etl-dev, tag: dev, env: {ETL_ENV: dev}}
transfers:
  - name: doc_demo
    schedule: "0 3 * * *"
    mode: delta
    config: gs://cfg/config.yaml
    start_date: 2024-01-01
    catchup: true
    tags: [demo, orders]
    env: {DB_PASSWORD: "secretKeyRef:warehouse-db/password"}
    resources: {limits: {memory: 2Gi}}
  - name: nightly_rebuild
    schedule: "@daily"
    mode: truncate
    config: /app/jobs/config/rebuild.yaml
    start_date: 2024-02-01
    allow_parallel_windows: true
    max_active_runs: 3
    credentials_secret: null
    sql_proxy: {instance: "proj:europe-west2:warehouse"}
  - name: adhoc_export
    mode: delta
    config: gs://cfg/export.yaml
    start_date: 2024-01-01
    description: Exports on demand.
    sql_proxy: {instance: "proj:europe-west2:warehouse", port: 5433}
"""

JOB_MODULE = '''
"""A job module the scheduler must not import: it needs an SDK Airflow lacks."""
import google.cloud.bigquery_not_installed  # noqa: F401

from etl_framework.registry import register


@register("doc_demo")
class DocDemoJob:
    """Copies demo orders into the warehouse, one day per run."""
'''


OTHER_JOBS = """
from etl_framework.registry import register


@register("nightly_rebuild")
class NightlyRebuildJob: ...


@register("adhoc_export")
class AdhocExportJob: ...
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """Work dir, DAG folder and env for the TRANSFERS file, with a `jobs` package on the path."""
    root = tmp_path_factory.mktemp("airflow")
    dags, env = dag_folder(root, TRANSFERS)
    # the checkout under test before the editable install (a git worktree has its own)
    env["PYTHONPATH"] = os.pathsep.join([str(jobs_package(root)), str(REPO_ROOT)])
    return root, dags, env


def jobs_package(root: Path) -> Path:
    """A ``jobs`` package (parsed by the DAG factory, never imported) under root/pkgs."""
    jobs = root / "pkgs" / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "__init__.py").write_text("")
    (jobs / "doc_demo.py").write_text(JOB_MODULE)
    (jobs / "others.py").write_text(OTHER_JOBS)
    return root / "pkgs"


@pytest.fixture(scope="module")
def bag(project: tuple[Path, Path, dict[str, str]]) -> dict[str, Any]:
    root, dags, env = project
    result, output = run_checker(root, "dagbag", str(dags), env=env)
    assert SENTINEL not in output
    return result


def render(project: tuple[Path, Path, dict[str, str]], dag_id: str, run_after: str, **env: str):
    root, dags, base_env = project
    result, output = run_checker(
        root, "render", str(dags), dag_id, run_after, env={**base_env, **env}
    )
    assert SENTINEL not in output
    return result


# --- DagBag ---------------------------------------------------------------


def test_shipped_dag_file_loads_one_dag_per_transfer(tmp_path: Path) -> None:
    result, _ = run_checker(tmp_path, "dagbag", str(DAG_FILE.parent))

    assert result["import_errors"] == {}
    assert result["captured_warnings"] == {}
    expected = sorted(spec.name for spec in load_transfers(REPO_ROOT / "gke_deploy/transfers.yaml"))
    assert result["dag_ids"] == expected


def test_dagbag_builds_one_thin_dag_per_transfer(bag: dict[str, Any]) -> None:
    assert bag["import_errors"] == {}
    assert bag["captured_warnings"] == {}
    assert bag["dag_ids"] == ["adhoc_export", "doc_demo", "nightly_rebuild"]

    demo = bag["dags"]["doc_demo"]
    assert demo["timetable"] == "CronDataIntervalTimetable"  # interval semantics on 2.x and 3.x
    assert demo["schedule"] == "0 3 * * *"
    assert demo["catchup"] is True
    assert demo["max_active_runs"] == 1
    assert demo["tags"] == ["demo", "etl", "orders"]
    assert demo["start_date"] == "2024-01-01T00:00:00+00:00"
    (task,) = demo["tasks"].values()
    assert task["task_type"] == "ETLPodOperator"
    assert task["cmds"] == ["pipeline"]
    assert task["arguments"] == [
        EXECUTION_DATE_TEMPLATE,
        "doc_demo",
        "delta",
        "gs://cfg/config.yaml",
    ]
    assert task["get_logs"] is True
    assert task["on_finish_action"] == "delete_succeeded_pod"
    assert task["log_events_on_failure"] is True
    assert task["termination_message_policy"] == "FallbackToLogsOnError"
    assert task["retries"] == 3
    assert task["retry_delay_seconds"] == 120
    assert task["retry_exponential_backoff"] == 2.0
    assert task["no_retry_exit_codes"] == [1, 2, 3]
    assert task["active_deadline_seconds"] == 1800
    assert task["execution_timeout_seconds"] > 1800

    rebuild = bag["dags"]["nightly_rebuild"]
    assert rebuild["max_active_runs"] == 3  # allow_parallel_windows
    assert rebuild["schedule"] == "0 0 * * *"  # @daily, as a data interval
    assert rebuild["catchup"] is False

    adhoc = bag["dags"]["adhoc_export"]
    assert adhoc["timetable"] == "NullTimetable"  # no schedule: triggered by hand


def test_doc_md_comes_from_the_job_docstring_without_importing_it(bag: dict[str, Any]) -> None:
    # jobs/doc_demo.py imports a package that is not installed: it was parsed, not imported
    demo = bag["dags"]["doc_demo"]["doc_md"]
    assert demo.startswith("Copies demo orders into the warehouse, one day per run.")
    in_table = EXECUTION_DATE_TEMPLATE.replace("|", "\\|")
    assert f"`pipeline {in_table} doc_demo delta" in demo
    assert "`DB_PASSWORD`" in demo  # names only
    assert bag["dags"]["adhoc_export"]["doc_md"].startswith("Exports on demand.")
    assert bag["dags"]["nightly_rebuild"]["doc_md"].startswith("Runs the `nightly_rebuild`")


# --- templates ------------------------------------------------------------


def test_templated_arguments_render_to_the_pipeline_command(project: Any) -> None:
    # the 03:00 run on 6 March processes the complete day before: EXECUTION_DATE 20240305
    result = render(project, "doc_demo", "2024-03-06T03:00:00+00:00")

    assert result["interval"] == ["2024-03-05T03:00:00+00:00", "2024-03-06T03:00:00+00:00"]
    assert result["cmds"] == ["pipeline"]
    assert result["arguments"] == ["20240305", "doc_demo", "delta", "gs://cfg/config.yaml"]

    result = render(project, "nightly_rebuild", "2024-03-06T00:00:00+00:00")
    assert result["arguments"] == [
        "20240305",
        "nightly_rebuild",
        "truncate",
        "/app/jobs/config/rebuild.yaml",
    ]


def test_run_without_a_data_interval_processes_its_run_after_day(project: Any) -> None:
    # Airflow 3: a manual run without a logical date has no data_interval_start at all
    root, dags, env = project
    for dag_id, mode, config in [
        ("doc_demo", "delta", "gs://cfg/config.yaml"),
        ("adhoc_export", "delta", "gs://cfg/export.yaml"),
    ]:
        result, output = run_checker(
            root, "render-without-interval", str(dags), dag_id, "2024-03-06T10:30:00+00:00", env=env
        )
        assert SENTINEL not in output
        assert result["arguments"] == ["20240306", dag_id, mode, config]
        (container,) = result["pod"]["spec"]["containers"]
        assert container["args"] == result["arguments"]


def test_no_secret_value_in_any_templated_field(project: Any) -> None:
    result = render(project, "doc_demo", "2024-03-06T03:00:00+00:00")

    rendered = json.dumps(result["rendered"])
    assert SENTINEL not in rendered
    # the env is part of the pod (full_pod_spec), which Airflow never renders
    assert result["rendered"]["env_vars"] == []
    assert "full_pod_spec" not in result["rendered"]
    (container,) = result["pod"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert "value" not in env["DB_PASSWORD"]
    assert env["DB_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"key": "password", "name": "warehouse-db"}
    }


# --- the pod ----------------------------------------------------------------


def test_pod_request_has_image_args_env_volumes_resources_security(project: Any) -> None:
    result = render(project, "doc_demo", "2024-03-06T03:00:00+00:00")
    pod = result["pod"]
    assert SENTINEL not in json.dumps(pod)

    assert pod["metadata"]["namespace"] == "etl"
    labels = pod["metadata"]["labels"]
    (doc_demo,) = [s for s in load_transfers(project[0] / "transfers.yaml") if s.name == "doc_demo"]
    assert manifests.labels(doc_demo, None).items() <= labels.items()  # as the Jobs' pods
    assert labels["etl-framework.io/transfer"] == "doc-demo"
    assert "etl-framework.io/env" not in labels
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "etl-runner"
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 1800
    assert spec["initContainers"] == []
    (container,) = spec["containers"]
    assert container["name"] == "pipeline"
    assert container["image"] == "europe-west2-docker.pkg.dev/test-project/etl/etl-framework:1.4.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"] == ["pipeline"]
    assert container["args"] == ["20240305", "doc_demo", "delta", "gs://cfg/config.yaml"]

    env = {item["name"]: item for item in container["env"]}
    assert env["ETL_ENV"] == {"name": "ETL_ENV", "value": "prod"}
    assert env["LOG_FORMAT"]["value"] == "json"
    assert env["HOME"]["value"] == env["TMPDIR"]["value"] == "/tmp"  # read-only root filesystem
    assert env["GOOGLE_APPLICATION_CREDENTIALS"]["value"] == "/var/secrets/google/key.json"
    assert env["DB_PASSWORD"] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"key": "password", "name": "warehouse-db"}},
    }
    # the DAG run's id reaches the ledger: a templated annotation, read by the downward API
    # (not the operator's own run_id label, which is shortened and hashed)
    annotation = manifests.AIRFLOW_RUN_ID_ANNOTATION
    assert pod["metadata"]["annotations"][annotation] == "manual__test"
    assert env["ETL_ORCHESTRATOR_RUN_ID"]["valueFrom"] == {
        "fieldRef": {"apiVersion": "v1", "fieldPath": f"metadata.annotations['{annotation}']"}
    }

    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["credentials"]["secret"] == {
        "secretName": "etl-credentials",
        "defaultMode": 0o440,
    }
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert mounts["/var/secrets/google"] == {
        "mountPath": "/var/secrets/google",
        "name": "credentials",
        "readOnly": True,
    }
    assert mounts["/tmp"]["name"] == "tmp"
    assert mounts["/app/.etl"]["name"] == "state"

    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,  # can read the 0440 key file
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_workload_identity_pod_has_no_key_file_and_runs_the_sql_proxy(project: Any) -> None:
    pod = render(project, "nightly_rebuild", "2024-03-06T00:00:00+00:00")["pod"]

    (container,) = pod["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in env
    assert env["ETL_SQL_PROXY_HOST"] == "127.0.0.1"
    assert env["ETL_SQL_PROXY_PORT"] == "5432"
    assert [volume["name"] for volume in pod["spec"]["volumes"]] == ["tmp", "state"]
    (proxy,) = pod["spec"]["initContainers"]
    assert proxy["name"] == "cloud-sql-proxy"
    assert proxy["restartPolicy"] == "Always"  # native sidecar: ends with the job container
    assert "--port=5432" in proxy["args"]
    assert proxy["args"][-1] == "proj:europe-west2:warehouse"
    # ready before pipeline; the health endpoint answers on loopback only
    assert proxy["startupProbe"]["exec"]["command"][:2] == ["/cloud-sql-proxy", "wait"]
    assert "--http-address=127.0.0.1" in proxy["args"]
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert proxy["securityContext"]["readOnlyRootFilesystem"] is True
    assert "env" not in proxy and "volumeMounts" not in proxy  # Workload Identity


def test_manual_dag_runs_the_trigger_day_and_proxy_gets_the_key_file(project: Any) -> None:
    result = render(project, "adhoc_export", "2024-03-06T10:30:00+00:00")

    assert result["arguments"] == ["20240306", "adhoc_export", "delta", "gs://cfg/export.yaml"]
    (proxy,) = result["pod"]["spec"]["initContainers"]
    assert "--port=5433" in proxy["args"]
    assert proxy["env"] == [
        {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/var/secrets/google/key.json"}
    ]
    assert proxy["volumeMounts"] == [
        {"mountPath": "/var/secrets/google", "name": "credentials", "readOnly": True}
    ]


def test_environment_overlay_from_etl_env(project: Any) -> None:
    pod = render(project, "doc_demo", "2024-03-06T03:00:00+00:00", ETL_ENV="dev")["pod"]

    assert pod["metadata"]["namespace"] == "etl-dev"
    assert pod["metadata"]["labels"]["etl-framework.io/env"] == "dev"
    (container,) = pod["spec"]["containers"]
    assert container["image"].endswith("/etl-framework:dev")
    assert container["imagePullPolicy"] == "Always"  # `dev` moves: never run a cached one
    assert {"name": "ETL_ENV", "value": "dev"} in container["env"]


# --- failures ---------------------------------------------------------------


def test_exit_codes_decide_retry_fail_or_success(project: Any) -> None:
    root, dags, env = project
    outcome, _ = run_checker(root, "exit-codes", str(dags), "doc_demo", env=env)

    assert outcome == {
        "0": "ok",
        "1": "AirflowFailException",  # the job failed: terminal
        "1-disrupted": "AirflowException",  # SIGTERM from a node drain: retried
        "2": "AirflowFailException",  # usage error: retrying cannot help
        "3": "AirflowFailException",  # config error: retrying cannot help
        "4": "AirflowException",  # lease held by another run: retried later
        "75": "AirflowException",  # transient
        "137": "AirflowException",  # OOM-killed / SIGKILL
    }


def test_broken_transfers_file_is_a_clear_import_error(tmp_path: Path) -> None:
    broken = """
    defaults: {image: repo/etl, namespace: etl}
    transfers:
      - name: orders
        mode: sideways
        config: gs://cfg/config.yaml
        start_date: 2024-01-01
        env: {API_TOKEN: hunter2}
    """
    dags, env = dag_folder(tmp_path, broken)
    result, output = run_checker(tmp_path, "dagbag", str(dags), env=env)

    assert result["dag_ids"] == []
    (error,) = result["import_errors"].values()
    assert "ConfigValidationError" in error
    assert f"invalid config {tmp_path / 'transfers.yaml'}: 2 problems" in error
    assert "transfers[0].mode: Input should be 'truncate' or 'delta'" in error
    assert "transfers[0].env: env var(s) 'API_TOKEN' look like secrets" in error
    assert "hunter2" not in output


def test_a_dag_for_an_unregistered_transfer_is_an_import_error(tmp_path: Path) -> None:
    dags, env = dag_folder(tmp_path, TRANSFERS.replace("name: adhoc_export", "name: adhoc_exprt"))
    env["PYTHONPATH"] = os.pathsep.join([str(jobs_package(tmp_path)), str(REPO_ROOT)])
    result, _ = run_checker(tmp_path, "dagbag", str(dags), env=env)

    assert result["dag_ids"] == []
    (error,) = result["import_errors"].values()
    assert "transfers[2].name: 'adhoc_exprt' is not a registered transfer" in error
    assert "(searched the 'jobs' package)" in error


def test_missing_transfers_file_is_a_clear_import_error(tmp_path: Path) -> None:
    dags, env = dag_folder(tmp_path, "transfers: []\n")
    env["ETL_TRANSFERS_FILE"] = str(tmp_path / "nowhere.yaml")
    result, _ = run_checker(tmp_path, "dagbag", str(dags), env=env)

    (error,) = result["import_errors"].values()
    assert f"cannot read transfers file {tmp_path / 'nowhere.yaml'}" in error


def test_missing_airflow_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['airflow'] = None\n"
        "try:\n"
        "    import etl_framework.deploy.airflow\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.startswith("ConfigError apache-airflow (with apache-airflow-providers-")
    assert "pip install 'etl_framework[airflow]'" in proc.stdout


def test_missing_airflow_venv_fails_with_the_setup_command(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="run script/setup/airflow"):
        require_airflow_venv(tmp_path / "no-venv" / "bin" / "python")


# --- secrets found by value (issue 13 item 2) -----------------------------------


def test_every_shipped_config_gives_a_dag_pod_with_secret_references_only(
    tmp_path: Path,
) -> None:
    """One DAG per shipped jobs/config file, its secrets planted in the scheduler's
    environment and secrets dir: they reach no DAG, and every variable the config reads
    into a secret field is a ``secretKeyRef``."""
    from etl_framework.deploy.spec import config_secret_names
    from tests.support.deploy_secrets import PLANTED, SHIPPED_CONFIGS, as_references
    from tests.support.deploy_secrets import transfers_file as write_transfers
    from tests.support.secret_jobs import leaked

    def checker(*args: str, transfers: Path) -> tuple[dict[str, Any], str]:
        secrets = tmp_path / "planted"
        secrets.mkdir(exist_ok=True)
        for name, value in PLANTED.items():
            (secrets / name).write_text(value)
        env = {
            **PLANTED,
            "ETL_SECRETS_DIR": str(secrets),
            "ETL_TRANSFERS_FILE": str(transfers),
            "PYTHONPATH": str(REPO_ROOT),  # this checkout's etl_framework
        }
        return run_checker(tmp_path, *args, env=env)

    def no_planted_secret(output: str) -> None:
        for name, value in PLANTED.items():
            if name not in ("GCP_PROJECT", "EXPORT_BUCKET", "HAWK_ID"):  # plain values
                assert leaked(value, {"output": output}) == [], name
        assert "Pl4nted" not in output and "pl4nted-hawk-key" not in output

    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    good = tmp_path / "good"
    good.mkdir()
    transfers = write_transfers(good, as_references)
    bag, output = checker("dagbag", str(dags), transfers=transfers)
    assert bag["import_errors"] == {}, bag["import_errors"]
    no_planted_secret(output)
    for config in SHIPPED_CONFIGS:
        dag_id = yaml_transfers(config)[0]  # the DAG write_transfers made for it
        result, output = checker(
            "render", str(dags), dag_id, "2024-03-06T03:00:00+00:00", transfers=transfers
        )
        no_planted_secret(output)
        (container,) = result["pod"]["spec"]["containers"]
        env = {item["name"]: item for item in container["env"]}
        for name in config_secret_names(config):
            assert "value" not in env[name], (dag_id, name)
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "etl-secrets"

    bad = tmp_path / "bad"
    bad.mkdir()
    literal = write_transfers(
        bad, lambda config: {name: PLANTED[name] for name in config_secret_names(config)}
    )
    bag, output = checker("dagbag", str(dags), transfers=literal)
    (error,) = bag["import_errors"].values()
    assert "WAREHOUSE_URL" in error and "secretKeyRef" in error
    assert bag["dag_ids"] == []
    no_planted_secret(output)


def yaml_transfers(config: Path) -> list[str]:
    import yaml

    return list(yaml.safe_load(config.read_text())["transfers"])


# --- one pod: the DAG's pod is the Kubernetes Jobs' pod (issue 17 item 1) -------------

POD_DAY = "20240115"
"""The day both pods run: the Jobs' execution date, and the DAGs' manual run on that day."""
AIRFLOW_ONLY_POD_FIELDS = {"activeDeadlineSeconds", "hostNetwork"}
"""What the operator adds to the pod spec (the Jobs keep the deadline on the Job)."""


def with_proxy(source: Path, target: Path, proxy: dict[str, Any] | None) -> Path:
    """``source`` with every transfer's ``sql_proxy`` set to ``proxy`` (None: no sidecar)."""
    import yaml

    data = yaml.safe_load(source.read_text())
    for entry in data["transfers"]:
        entry["sql_proxy"] = proxy
    target.write_text(yaml.safe_dump(data))
    return target


def dag_pods(workdir: Path, transfers: Path, env: str | None) -> dict[str, Any]:
    """{dag_id: pod} of the shipped DAG file over ``transfers``, for a run on `POD_DAY`."""
    dags = workdir / "dags"
    dags.mkdir(exist_ok=True)
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    child_env = {"ETL_TRANSFERS_FILE": str(transfers), **({"ETL_ENV": env} if env else {})}
    run_after = f"{POD_DAY[:4]}-{POD_DAY[4:6]}-{POD_DAY[6:]}T12:00:00+00:00"
    result, output = run_checker(workdir, "render-all", str(dags), run_after, env=child_env)
    assert result["import_errors"] == {}, result["import_errors"]
    assert SENTINEL not in output
    return dict(result["pods"])


def without_empty(fields: dict[str, Any]) -> dict[str, Any]:
    """Without ``[]`` and ``{}`` values, which mean what leaving them out means: the
    operator writes ``ports: []``, ``tolerations: []``..., a Job without resource
    settings ``resources: {}``."""
    return {key: value for key, value in fields.items() if value not in ([], {})}


MANUAL_RUN_ID = "manual__no_logical_date"
"""The run id tests/support/airflow_checker.py renders a manual run with."""


def without_run_id_source(pod: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``pod`` without its ``$ETL_ORCHESTRATOR_RUN_ID`` env item, and the field that item
    reads (downward API): the one thing allowed to differ between the Job's and the DAG's pod."""
    (container, *sidecars) = pod["containers"]
    (item,) = [e for e in container["env"] if e["name"] == manifests.ORCHESTRATOR_RUN_ID_ENV]
    rest = [e for e in container["env"] if e["name"] != manifests.ORCHESTRATOR_RUN_ID_ENV]
    assert set(item) == {"name", "valueFrom"} and set(item["valueFrom"]) == {"fieldRef"}, item
    field = item["valueFrom"]["fieldRef"]
    assert field.get("apiVersion") == "v1", field
    return {**pod, "containers": [{**container, "env": rest}, *sidecars]}, field["fieldPath"]


def assert_same_pod(job_pod: dict[str, Any], dag_pod: dict[str, Any], what: str) -> None:
    """Containers (command, args, env, mounts, resources, security context), the proxy
    sidecar, volumes, pod security context, service account and token: identical, except
    where ``$ETL_ORCHESTRATOR_RUN_ID`` comes from (the Job's name; the DAG run's id, from
    the pod annotation the operator renders from ``{{ run_id }}``)."""
    job_pod, job_field = without_run_id_source(job_pod)
    dag_spec, dag_field = without_run_id_source(dag_pod["spec"])
    assert job_field == "metadata.labels['batch.kubernetes.io/job-name']", what
    assert dag_field == f"metadata.annotations['{manifests.AIRFLOW_RUN_ID_ANNOTATION}']", what
    annotations = dag_pod["metadata"].get("annotations") or {}
    assert annotations.get(manifests.AIRFLOW_RUN_ID_ANNOTATION) == MANUAL_RUN_ID, what
    dag_spec = without_empty(dag_spec)
    dag_spec["containers"] = [without_empty(c) for c in dag_spec["containers"]]
    job_pod = {**job_pod, "containers": [without_empty(c) for c in job_pod["containers"]]}
    assert job_pod["containers"][0]["env"], what  # not vacuous
    for job_container, dag_container in zip(
        job_pod["containers"], dag_spec["containers"], strict=True
    ):
        for key in {*job_container, *dag_container}:
            assert dag_container.get(key) == job_container.get(key), f"{what}: {key} differs"
    for key, value in job_pod.items():
        assert dag_spec.get(key) == value, f"{what}: {key} differs"
    assert set(dag_spec) - set(job_pod) <= AIRFLOW_ONLY_POD_FIELDS, what


def test_dag_pod_is_the_job_pod_for_every_shipped_config(tmp_path: Path) -> None:
    """The shipped deployment file (dev, prod) and one transfer per shipped job config,
    each with no proxy and with the Cloud SQL proxy: the DAG's pod equals the Job's pod
    (`build_pod_spec`), and the Indexed backfill's pod differs only by what runs the index."""
    from etl_framework.deploy.manifests import (
        BACKFILL_START_ENV,
        EXAMPLE_SQL_PROXY,
        build_backfill_job,
        build_job,
    )
    from etl_framework.window import WriteMode
    from tests.support.deploy_secrets import as_references
    from tests.support.deploy_secrets import transfers_file as write_transfers

    configs = tmp_path / "configs"
    configs.mkdir()
    sources = [
        (REPO_ROOT / "gke_deploy" / "transfers.yaml", "dev"),
        (REPO_ROOT / "gke_deploy" / "transfers.yaml", "prod"),
        (write_transfers(configs, as_references), None),
    ]
    proxies = {"plain": None, "sql-proxy": EXAMPLE_SQL_PROXY.model_dump()}
    compared = []
    for number, (source, env) in enumerate(sources):
        for variant, proxy in proxies.items():
            workdir = tmp_path / f"{number}-{variant}"
            workdir.mkdir()
            transfers = with_proxy(source, workdir / "transfers.yaml", proxy)
            pods = dag_pods(workdir, transfers, env)
            specs = load_transfers(transfers, env)
            assert sorted(pods) == sorted(spec.name for spec in specs)
            for spec in specs:
                what = f"{source.name} env={env} {variant} {spec.name}"
                job = build_job(spec, POD_DAY, env=env)["spec"]["template"]
                assert_same_pod(job["spec"], pods[spec.name], what)
                assert (
                    job["metadata"]["labels"].items()
                    <= pods[spec.name]["metadata"]["labels"].items()
                )
                compared.append(what)
                if variant == "plain":
                    backfill = build_backfill_job(
                        spec, POD_DAY, POD_DAY, env=env, mode=WriteMode.DELTA
                    )["spec"]["template"]["spec"]
                    (container,) = backfill["containers"]
                    assert container["command"][-1] == "exec-index"
                    container["env"] = [
                        item for item in container["env"] if item["name"] != BACKFILL_START_ENV
                    ]
                    container["command"] = job["spec"]["containers"][0]["command"]
                    container["args"] = job["spec"]["containers"][0]["args"]
                    assert_same_pod(backfill, pods[spec.name], f"{what} backfill")
    assert len(compared) == 2 * (2 * 1 + len(yaml_transfers_of(configs / "transfers.yaml")))


def yaml_transfers_of(transfers: Path) -> list[Any]:
    import yaml

    return list(yaml.safe_load(transfers.read_text())["transfers"])
