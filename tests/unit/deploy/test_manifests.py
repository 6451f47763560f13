"""Job manifests built from a TransferSpec: security, secrets, proxy sidecar, failure policy."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from etl_framework.deploy import manifests
from etl_framework.deploy.manifests import (
    build_backfill_job,
    build_job,
    execution_date_from_index,
    execution_date_from_list,
    job_name,
    render_examples,
    to_yaml,
)
from etl_framework.deploy.spec import SqlProxy, TransferSpec, load_transfers
from etl_framework.exceptions import ConfigError, InvalidDateError, InvalidWindowError
from etl_framework.window import WriteMode

REPO = Path(__file__).resolve().parents[3]


def make_spec(**overrides: Any) -> TransferSpec:
    values: dict[str, Any] = {
        "name": "demo_orders",
        "mode": "delta",
        "config": "gs://cfg/config.yaml",
        "start_date": "2024-01-01",
        "image": "europe-west2-docker.pkg.dev/p/etl/etl-framework",
        "tag": "1.2.3",
        "namespace": "etl-dev",
        "service_account": "etl-runner",
        "credentials_secret": "etl-credentials",
        "env": {"ETL_ENV": "dev", "STATE_DB_URL": "secretKeyRef:etl-db/url"},
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    }
    values.update(overrides)
    return TransferSpec.model_validate(values)


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def main_container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod_spec(job)["containers"]
    assert container["name"] == "pipeline"
    return container


def test_job_runs_pipeline_with_the_transfer_arguments() -> None:
    job = build_job(make_spec(), "2024-01-15", delta_start_date="20240110", env="dev")
    container = main_container(job)
    assert container["args"] == [
        "20240115",
        "demo_orders",
        "delta",
        "gs://cfg/config.yaml",
        "--delta_start_date",
        "20240110",
    ]
    assert container["command"] == ["pipeline"]  # also the image's ENTRYPOINT
    assert container["image"] == "europe-west2-docker.pkg.dev/p/etl/etl-framework:1.2.3"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert job["metadata"]["name"] == "etl-demo-orders-20240115"
    assert job["metadata"]["namespace"] == "etl-dev"
    assert job["metadata"]["labels"]["etl-framework.io/env"] == "dev"
    assert job["metadata"]["annotations"]["etl-framework.io/delta-start-date"] == "20240110"


def test_job_limits_and_lifetime_come_from_the_spec() -> None:
    spec = make_spec(backoff_limit=4, active_deadline_seconds=900, ttl_seconds_after_finished=60)
    job = build_job(spec, "20240115")
    assert job["spec"]["backoffLimit"] == 4
    assert job["spec"]["activeDeadlineSeconds"] == 900
    assert job["spec"]["ttlSecondsAfterFinished"] == 60
    assert main_container(job)["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"memory": "1Gi"},
    }
    assert pod_spec(job)["serviceAccountName"] == "etl-runner"
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_every_container_is_locked_down() -> None:
    job = build_job(make_spec(), "20240115", sql_proxy=SqlProxy(instance="p:r:i"))
    pod = pod_spec(job)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == manifests.RUN_AS_USER
    for container in pod["containers"] + pod["initContainers"]:
        ctx = container["securityContext"]
        assert ctx["runAsNonRoot"] is True
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m for m in main_container(job)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/tmp"]["name"]]["emptyDir"] == {"sizeLimit": "1Gi"}
    assert "emptyDir" in volumes[mounts["/app/.etl"]["name"]]


def test_credentials_secret_is_mounted_read_only() -> None:
    job = build_job(make_spec(), "20240115")
    mount = next(m for m in main_container(job)["volumeMounts"] if m["name"] == "credentials")
    assert mount == {"name": "credentials", "mountPath": "/var/secrets/google", "readOnly": True}
    volume = next(v for v in pod_spec(job)["volumes"] if v["name"] == "credentials")
    assert volume["secret"] == {"secretName": "etl-credentials", "defaultMode": 0o440}
    env = {e["name"]: e for e in main_container(job)["env"]}
    assert env["GOOGLE_APPLICATION_CREDENTIALS"]["value"] == "/var/secrets/google/key.json"


def test_credentials_key_names_the_key_file_in_the_job_and_its_sql_proxy() -> None:
    spec = make_spec(
        credentials_key="etl-sa.json", sql_proxy={"instance": "my-project:europe-west2:etl"}
    )
    job = build_job(spec, "20240115")
    env = {e["name"]: e for e in main_container(job)["env"]}
    assert env["GOOGLE_APPLICATION_CREDENTIALS"]["value"] == "/var/secrets/google/etl-sa.json"
    (proxy,) = pod_spec(job)["initContainers"]
    assert proxy["env"] == [
        {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/var/secrets/google/etl-sa.json"}
    ]


def test_workload_identity_needs_no_secret() -> None:
    job = build_job(make_spec(credentials_secret=None), "20240115")
    assert all(v["name"] != "credentials" for v in pod_spec(job)["volumes"])
    names = {e["name"] for e in main_container(job)["env"]}
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in names


def test_secret_env_becomes_secret_key_ref_and_plain_env_stays_plain() -> None:
    job = build_job(make_spec(), "20240115")
    env = {e["name"]: e for e in main_container(job)["env"]}
    assert env["STATE_DB_URL"] == {
        "name": "STATE_DB_URL",
        "valueFrom": {"secretKeyRef": {"name": "etl-db", "key": "url"}},
    }
    assert env["ETL_ENV"] == {"name": "ETL_ENV", "value": "dev"}
    assert env["ETL_IMAGE_TAG"]["value"].endswith(":1.2.3")


def test_sql_proxy_is_a_native_sidecar_that_starts_first() -> None:
    spec = make_spec(sql_proxy={"instance": "proj:europe-west2:state", "port": 6432})
    job = build_job(spec, "20240115")  # None: as the spec says
    (proxy,) = pod_spec(job)["initContainers"]
    assert proxy["name"] == "cloud-sql-proxy"
    assert proxy["restartPolicy"] == "Always"
    assert "proj:europe-west2:state" in proxy["args"]
    assert "--port=6432" in proxy["args"]
    # the health endpoint listens on loopback only, probed by the proxy's own `wait`
    assert "--http-address=127.0.0.1" in proxy["args"]
    for probe in ("startupProbe", "livenessProbe"):
        command = proxy[probe]["exec"]["command"]
        assert command[:2] == ["/cloud-sql-proxy", "wait"]
        assert "--http-address=127.0.0.1" in command and "--http-port=9090" in command
    env = {e["name"]: e.get("value") for e in main_container(job)["env"]}
    assert env["ETL_SQL_PROXY_PORT"] == "6432"
    # --no-sql-proxy wins over the spec
    assert "initContainers" not in pod_spec(build_job(spec, "20240115", sql_proxy=False))


def test_sql_proxy_flag_without_an_instance_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"sql_proxy\.instance"):
        build_job(make_spec(), "20240115", sql_proxy=True)


def test_pod_failure_policy_fails_fast_on_terminal_codes_and_ignores_disruptions() -> None:
    rules = build_job(make_spec(), "20240115")["spec"]["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    by_action = {r["action"]: r for r in rules[1:]}
    assert by_action["FailJob"]["onExitCodes"]["values"] == [1, 2, 3]
    assert by_action["FailJob"]["onExitCodes"]["containerName"] == "pipeline"
    assert by_action["Count"]["onExitCodes"]["values"] == [4, 75]


def test_bad_dates_and_windows_are_refused() -> None:
    with pytest.raises(InvalidDateError):
        build_job(make_spec(), "2024-13-01")
    with pytest.raises(InvalidWindowError, match="after execution date"):
        build_job(make_spec(), "20240115", delta_start_date="20240116")
    with pytest.raises(InvalidWindowError, match="needs a delta transfer"):
        build_job(make_spec(mode="truncate"), "20240115", delta_start_date="20240110")


def test_job_names_are_short_dns_labels() -> None:
    spec = make_spec(name="a_very_long_transfer_name_that_goes_on_and_on_forever")
    name = job_name(spec, "20240115", kind="backfill", suffix="x1y2z")
    assert len(name) <= 52
    assert name.endswith("-20240115-backfill-x1y2z")
    assert name == name.lower() and "_" not in name and not name.startswith("-")
    huge = make_spec(name="t" * 63)
    assert all(len(v) <= 63 for v in build_job(huge, "20240115")["metadata"]["labels"].values())
    suffixed = build_job(make_spec(), "20240115", name_suffix="abc12")
    assert suffixed["metadata"]["name"] == "etl-demo-orders-20240115-abc12"


@pytest.mark.parametrize(
    ("start", "index", "expected"),
    [
        ("20240101", 0, "20240101"),
        ("20240101", "30", "20240131"),
        ("2024-02-28", 1, "20240229"),
        (dt.date(2023, 12, 31), 1, "20240101"),
    ],
)
def test_execution_date_from_index(start: Any, index: Any, expected: str) -> None:
    assert execution_date_from_index(start, index) == expected


@pytest.mark.parametrize("index", ["-1", "two", ""])
def test_execution_date_from_index_refuses_bad_indexes(index: str) -> None:
    with pytest.raises(InvalidWindowError):
        execution_date_from_index("20240101", index)


def test_backfill_is_one_indexed_job_with_a_day_per_index() -> None:
    job = build_backfill_job(make_spec(), "20240101", "20240131", parallelism=4, env="prod")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == 31
    assert spec["parallelism"] == 4
    assert spec["backoffLimitPerIndex"] == 2
    assert "backoffLimit" not in spec
    assert spec["podFailurePolicy"]["rules"][1]["action"] == "FailIndex"
    # 8 waves of 4 pods, each with up to 3 tries
    assert spec["activeDeadlineSeconds"] == 3600 * 8 * 3
    container = main_container(job)
    assert container["command"] == ["python3", "-m", "etl_framework.deploy", "exec-index"]
    assert container["args"] == ["--", "demo_orders", "delta", "gs://cfg/config.yaml"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ETL_BACKFILL_START"] == "20240101"
    assert job["metadata"]["name"] == "etl-demo-orders-20240101-backfill"


def test_backfill_of_days_with_gaps_lists_them_and_an_index_picks_its_day() -> None:
    gappy = [dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 5), dt.date(2024, 1, 9)]
    job = build_backfill_job(make_spec(), gappy[0], gappy[-1], days=gappy, parallelism=8)
    assert job["spec"]["completions"] == 4
    assert job["spec"]["parallelism"] == 4
    assert job["spec"]["activeDeadlineSeconds"] == 3600 * 1 * 3
    env = {e["name"]: e.get("value") for e in main_container(job)["env"]}
    listed = env["ETL_BACKFILL_DAYS"]
    assert listed == "20240101,20240102,20240105,20240109"
    picked = [execution_date_from_list(listed, i) for i in range(4)]
    assert picked == ["20240101", "20240102", "20240105", "20240109"]
    for bad in ("4", "-1", "x"):
        with pytest.raises(InvalidWindowError):
            execution_date_from_list(listed, bad)
    with pytest.raises(InvalidDateError):
        execution_date_from_list("20240101,2024013x", 1)
    # every day of the range: the ordinary backfill, no list
    every = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(3)]
    plain = build_backfill_job(make_spec(), "20240101", "20240103", days=every)
    assert plain == build_backfill_job(make_spec(), "20240101", "20240103")
    with pytest.raises(InvalidWindowError, match="outside"):
        build_backfill_job(make_spec(), "20240102", "20240103", days=every)
    with pytest.raises(InvalidWindowError):
        build_backfill_job(make_spec(), "20240101", "20240103", days=[])


def test_backfill_runs_delta_for_a_truncate_transfer_when_asked_and_caps_parallelism() -> None:
    job = build_backfill_job(
        make_spec(mode=WriteMode.TRUNCATE),
        "20240101",
        "20240102",
        parallelism=9,
        mode=WriteMode.DELTA,
    )
    assert main_container(job)["args"][2] == "delta"
    assert job["spec"]["parallelism"] == 2


def test_backfill_of_a_truncate_transfer_is_refused_unless_delta_is_asked_for() -> None:
    truncate = make_spec(mode=WriteMode.TRUNCATE)
    with pytest.raises(ConfigError, match="runs truncate, but a backfill replays one delta"):
        build_backfill_job(truncate, "20240101", "20240102")
    with pytest.raises(ConfigError, match="delta windows only; got mode 'truncate'"):
        build_backfill_job(make_spec(), "20240101", "20240102", mode=WriteMode.TRUNCATE)
    # a delta transfer needs no override
    assert main_container(build_backfill_job(make_spec(), "20240101", "20240102"))["args"][2] == (
        "delta"
    )


def test_backfill_refuses_reversed_range() -> None:
    with pytest.raises(InvalidWindowError):
        build_backfill_job(make_spec(), "20240102", "20240101")
    with pytest.raises(InvalidWindowError):
        build_backfill_job(make_spec(), "20240101", "20240102", parallelism=0)


def test_yaml_has_no_aliases_and_round_trips() -> None:
    job = build_job(make_spec(), "20240115")
    text = to_yaml(job, job)
    assert "&id" not in text and "*id" not in text
    assert list(yaml.safe_load_all(text)) == [job, job]


def test_committed_example_manifests_are_up_to_date() -> None:
    """gke_deploy/manifests/ is generated: `invoke render-manifests` after changing the code."""
    transfers = REPO / "gke_deploy" / "transfers.yaml"
    expected = render_examples(
        {env: load_transfers(transfers, env) for env in manifests.ENVIRONMENTS}
    )
    root = REPO / "gke_deploy" / "manifests"
    committed = {str(p.relative_to(root)): p.read_text() for p in root.rglob("*.yaml")}
    assert committed == expected


@pytest.mark.parametrize(("tag", "policy"), [("dev", "Always"), ("1.2.3", "IfNotPresent")])
def test_mutable_tags_are_always_pulled_in_jobs_proxy_runs_and_backfills(
    tag: str, policy: str
) -> None:
    spec = make_spec(tag=tag)
    for job in (
        build_job(spec, "20240115"),
        build_job(spec, "20240115", sql_proxy=SqlProxy(instance="p:r:i")),
        build_backfill_job(spec, "20240101", "20240103"),
    ):
        assert main_container(job)["imagePullPolicy"] == policy


def test_truncated_job_names_stay_unique_with_a_hash_of_the_transfer_name() -> None:
    prefix = "warehouse_orders_daily_snapshot_"  # 32 characters shared by both
    first, second = make_spec(name=prefix + "eu"), make_spec(name=prefix + "us")
    for kind, suffix in [("backfill", None), ("backfill", "x1y2z"), ("", None), ("", "x1y2z")]:
        names = {job_name(spec, "20240101", kind=kind, suffix=suffix) for spec in (first, second)}
        assert len(names) == 2, names
        for name in names:
            assert len(name) <= 52
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    backfills = {
        build_backfill_job(spec, "20240101", "20240107")["metadata"]["name"]
        for spec in (first, second)
    }
    assert len(backfills) == 2
    # stable: the same transfer always gets the same name; short names are not hashed
    assert job_name(first, "20240101", kind="backfill") == job_name(
        make_spec(name=prefix + "eu"), "20240101", kind="backfill"
    )
    assert job_name(make_spec(), "20240101") == "etl-demo-orders-20240101"


def test_every_pod_reads_its_orchestrator_run_id_from_the_downward_api() -> None:
    from etl_framework.runner import ENV_ORCHESTRATOR_RUN_ID

    assert manifests.ORCHESTRATOR_RUN_ID_ENV == ENV_ORCHESTRATOR_RUN_ID  # what the ledger reads

    def run_id_env(pod: dict[str, Any]) -> dict[str, Any]:
        (item,) = [e for e in pod["containers"][0]["env"] if e["name"] == ENV_ORCHESTRATOR_RUN_ID]
        return dict(item)

    job_field = {"fieldRef": {"apiVersion": "v1", "fieldPath": manifests.JOB_RUN_ID_FIELD}}
    assert manifests.JOB_RUN_ID_FIELD == "metadata.labels['batch.kubernetes.io/job-name']"
    for job in (
        build_job(make_spec(), "20240115"),
        build_backfill_job(make_spec(), "20240101", "20240103"),
    ):
        assert run_id_env(pod_spec(job))["valueFrom"] == job_field
    airflow = manifests.build_pod_spec(
        make_spec(), ["x"], run_id_field=manifests.AIRFLOW_RUN_ID_FIELD
    )
    assert run_id_env(airflow)["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['etl-framework.io/orchestrator-run-id']"
    )
    # the only difference between the two pods
    job_pod = manifests.build_pod_spec(make_spec(), ["x"])
    assert run_id_env(job_pod) != run_id_env(airflow)
    for pod in (job_pod, airflow):
        pod["containers"][0]["env"] = [
            e for e in pod["containers"][0]["env"] if e["name"] != ENV_ORCHESTRATOR_RUN_ID
        ]
    assert job_pod == airflow
    # a value set in the transfers file wins (no duplicate env name)
    fixed = make_spec(env={"ETL_ORCHESTRATOR_RUN_ID": "nightly"})
    env = pod_spec(build_job(fixed, "20240115"))["containers"][0]["env"]
    assert [e for e in env if e["name"] == ENV_ORCHESTRATOR_RUN_ID] == [
        {"name": ENV_ORCHESTRATOR_RUN_ID, "value": "nightly"}
    ]
