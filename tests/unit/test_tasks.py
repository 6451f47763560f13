"""tasks.py: the invoke collection, help texts, and the dry-run paths (no cluster needed)."""

from __future__ import annotations

import inspect
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from invoke.exceptions import Exit

REPO = Path(__file__).resolve().parents[2]
TASKS = {
    "make-docker-image",
    "test-docker-local",
    "deploy-docker-image",
    "local-deploy-gke",
    "backfill-gke",
    "fetch-credentials",
    "create-credentials-secret",
    "render-manifests",
    "airflow-local",
    "check",
}


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_collection_lists_every_task_with_a_docstring() -> None:
    import tasks

    names = set(tasks.ns.task_names)
    assert names == TASKS
    for name in names:
        body = tasks.ns[name].body
        assert inspect.getdoc(body), f"{name} has no docstring (it is the --help text)"
        params = list(inspect.signature(body).parameters.values())
        assert params[0].name == "c"
        assert all(p.annotation is not inspect.Parameter.empty for p in params[1:]), name


def test_local_deploy_gke_dry_run_prints_the_job() -> None:
    result = invoke(
        "local-deploy-gke", "--env", "prod", "--execution-date", "20240115", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    job = yaml.safe_load(result.stdout)
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == "etl"
    assert job["metadata"]["name"].startswith("etl-demo-orders-20240115-")  # random suffix


def test_deploy_tasks_run_the_image_the_build_pushed() -> None:
    """--tag / --digest: the Job runs the exact image, pulled IfNotPresent; latest refused."""
    digest = "sha256:" + "ab" * 32
    cases = {
        ("--tag", "0123456789ab"): ":0123456789ab",
        ("--digest", digest): "@" + digest,
    }
    for args, suffix in cases.items():
        for task in (
            ["local-deploy-gke", "--execution-date", "20240115"],
            ["backfill-gke", "--start", "20240101", "--end", "20240102"],
        ):
            result = invoke(*task, "--env", "dev", *args, "--dry-run")
            assert result.returncode == 0, result.stderr
            pod = yaml.safe_load(result.stdout)["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            assert container["image"].endswith(suffix)
            assert container["imagePullPolicy"] == "IfNotPresent"
    latest = invoke("local-deploy-gke", "--env", "prod", "--tag", "latest", "--dry-run")
    assert latest.returncode == 2 and "moves with every push" in latest.stderr
    assert "Traceback" not in latest.stderr


def test_backfill_gke_dry_run() -> None:
    result = invoke(
        "backfill-gke", "--start", "20240101", "--end", "20240110", "-p", "3", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    spec = yaml.safe_load(result.stdout)["spec"]
    assert (spec["completions"], spec["parallelism"]) == (10, 3)


def test_errors_end_the_task_with_their_exit_code_and_no_traceback() -> None:
    result = invoke("local-deploy-gke", "--env", "qa", "--dry-run")
    assert result.returncode == 3
    assert "unknown environment" in result.stderr and "Traceback" not in result.stderr
    bad_date = invoke("local-deploy-gke", "--execution-date", "2024-13-01", "--dry-run")
    assert bad_date.returncode == 2 and "Traceback" not in bad_date.stderr


class FakeContext:
    """Records the commands a task runs instead of running them."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.options: list[dict[str, object]] = []

    def run(self, command: str, **kwargs: object) -> None:
        self.commands.append(command)
        self.options.append(kwargs)


def test_test_docker_local_dev_mounts_the_specs_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks
    from etl_framework.deploy import image

    (tmp_path / "gke_deploy").mkdir()
    transfers = (REPO / "gke_deploy" / "transfers.yaml").read_text()
    (tmp_path / "gke_deploy" / "transfers.yaml").write_text(
        transfers.replace(
            "credentials_secret: etl-credentials",
            "credentials_secret: etl-creds\n  credentials_key: sa.json",
            1,
        )
    )
    (tmp_path / "keyscredentials").mkdir()
    (tmp_path / "keyscredentials" / "sa.json").write_text("{}")
    monkeypatch.setattr(tasks, "REPO", tmp_path)
    monkeypatch.setattr(image, "pick_engine", lambda engine=None: "docker")
    context = FakeContext()

    tasks.test_docker_local.body(context, test_execution_date="20240115", env="dev")

    (command,) = context.commands
    argv = shlex.split(command)
    assert argv[:3] == ["docker", "run", "--rm"]
    assert f"{tmp_path / 'keyscredentials'}:/var/secrets/google:ro" in argv
    assert "GOOGLE_APPLICATION_CREDENTIALS=/var/secrets/google/sa.json" in argv
    assert "ETL_ENV=dev" in argv
    assert argv[-4:] == ["20240115", "demo_orders", "delta", "gs://my-etl-config/config.yaml"]


def test_test_docker_local_dev_without_key_files_mounts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks
    from etl_framework.deploy import image

    monkeypatch.setattr(tasks, "REPO", tmp_path)
    (tmp_path / "gke_deploy").mkdir()
    shutil.copy(REPO / "gke_deploy" / "transfers.yaml", tmp_path / "gke_deploy")
    monkeypatch.setattr(image, "pick_engine", lambda engine=None: "podman")
    context = FakeContext()

    tasks.test_docker_local.body(context, test_execution_date="20240115", env="dev")

    argv = shlex.split(context.commands[0])
    assert "-v" not in argv
    assert not any(arg.startswith("GOOGLE_APPLICATION_CREDENTIALS=") for arg in argv)


def test_backfill_gke_refuses_a_truncate_transfer_unless_mode_delta(tmp_path: Path) -> None:
    transfers = tmp_path / "transfers.yaml"
    text = (REPO / "gke_deploy" / "transfers.yaml").read_text()
    transfers.write_text(text.replace("mode: delta", "mode: truncate", 1))
    args = ["backfill-gke", "--start", "20240101", "--end", "20240103", "--dry-run"]
    args += ["--transfers-file", str(transfers)]

    refused = invoke(*args)
    assert refused.returncode == 3, refused.stderr
    assert "runs truncate, but a backfill replays one delta window" in refused.stderr
    assert "Traceback" not in refused.stderr

    forced = invoke(*args, "--mode", "delta")
    assert forced.returncode == 0, forced.stderr
    job = yaml.safe_load(forced.stdout)
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][2] == "delta"

    wrong = invoke(*args, "--mode", "truncate")
    assert wrong.returncode == 2 and "--mode must be 'delta'" in wrong.stderr


# --- --env local: the default of test-docker-local and local-deploy-gke (TMGETL seed) ---


def test_test_docker_local_defaults_to_env_local(monkeypatch: pytest.MonkeyPatch) -> None:
    import tasks
    from etl_framework.deploy import image

    assert inspect.signature(tasks.test_docker_local.body).parameters["env"].default == "local"
    monkeypatch.setattr(image, "pick_engine", lambda engine=None: "podman")
    for kwargs in ({}, {"env": "local"}):
        context = FakeContext()
        tasks.test_docker_local.body(context, test_execution_date="20240115", **kwargs)
        argv = shlex.split(context.commands[0])
        assert argv[:3] == ["podman", "run", "--rm"]
        assert argv[-5:] == [
            "localhost/etl-framework:dev",
            "20240115",
            "demo_orders",
            "truncate",
            "jobs/config/local.yaml",
        ]
        assert "-e" not in argv and "-v" not in argv  # no ETL_ENV overlay, no key files


def _dry_run_job(capsys: pytest.CaptureFixture[str], **kwargs: object) -> dict[str, object]:
    import tasks

    tasks.local_deploy_gke.body(FakeContext(), execution_date="20240115", dry_run=True, **kwargs)
    job = yaml.safe_load(capsys.readouterr().out)
    assert isinstance(job, dict)
    return job


def test_local_deploy_gke_defaults_to_env_local(capsys: pytest.CaptureFixture[str]) -> None:
    """The local overlay: the locally built image (not pulled), the image's local config
    with no ETL_ENV overlay, no key files or service account, the default namespace."""
    import tasks

    assert inspect.signature(tasks.local_deploy_gke.body).parameters["env"].default == "local"
    for kwargs in ({}, {"env": "local"}):
        job = _dry_run_job(capsys, **kwargs)
        assert job["metadata"]["namespace"] == "default"  # type: ignore[index]
        assert job["metadata"]["labels"]["etl-framework.io/env"] == "local"  # type: ignore[index]
        pod = job["spec"]["template"]["spec"]  # type: ignore[index]
        (container,) = pod["containers"]
        assert container["image"] == "localhost/etl-framework:dev"
        assert container["imagePullPolicy"] == "IfNotPresent"
        assert container["args"] == ["20240115", "demo_orders", "delta", "jobs/config/local.yaml"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["ETL_ENV"] == "" and "GOOGLE_APPLICATION_CREDENTIALS" not in env
        assert "serviceAccountName" not in pod
        assert all("secret" not in volume for volume in pod["volumes"])


def test_local_deploy_gke_other_envs_are_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    job = _dry_run_job(capsys, env="dev")
    assert job["metadata"]["namespace"] == "etl-dev"  # type: ignore[index]
    pod = job["spec"]["template"]["spec"]  # type: ignore[index]
    (container,) = pod["containers"]
    assert container["image"] == "europe-west2-docker.pkg.dev/my-project/etl/etl-framework:dev"
    assert container["imagePullPolicy"] == "Always"  # a moving tag
    assert container["args"][-1] == "gs://my-etl-config/config.yaml"
    assert {e["name"]: e.get("value") for e in container["env"]}["ETL_ENV"] == "dev"
    assert pod["serviceAccountName"] == "etl-runner"


def test_test_docker_local_mounts_a_local_config_and_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--config-dir over the image's jobs/config, --data-dir at its own path under /app
    (inside the repository) or /app/data (elsewhere); both read-only."""
    import tasks
    from etl_framework.deploy import image

    repo = tmp_path / "repo"
    (repo / "jobs" / "config").mkdir(parents=True)
    (repo / "jobs" / "samples").mkdir()
    elsewhere = tmp_path / "exports"
    elsewhere.mkdir()
    monkeypatch.setattr(tasks, "REPO", repo)
    monkeypatch.setattr(image, "pick_engine", lambda engine=None: "podman")
    context = FakeContext()

    tasks.test_docker_local.body(
        context,
        test_execution_date="20240115",
        transfer="orders_eu",
        config_dir=str(repo / "jobs" / "config"),
        data_dir=str(repo / "jobs" / "samples"),
    )
    tasks.test_docker_local.body(context, test_execution_date="20240115", data_dir=str(elsewhere))

    first, second = (shlex.split(command) for command in context.commands)
    mounts = [first[i + 1] for i, arg in enumerate(first) if arg == "-v"]
    assert mounts == [
        f"{repo / 'jobs' / 'config'}:/app/jobs/config:ro",
        f"{repo / 'jobs' / 'samples'}:/app/jobs/samples:ro",
    ]
    assert first[-4:] == ["20240115", "orders_eu", "truncate", "jobs/config/local.yaml"]
    assert first.index("-v") < first.index(tasks.LOCAL_IMAGE)  # options before the image
    assert [second[i + 1] for i, arg in enumerate(second) if arg == "-v"] == [
        f"{elsewhere}:/app/data:ro"
    ]


def test_test_docker_local_refuses_a_missing_folder(tmp_path: Path) -> None:
    result = invoke("test-docker-local", "--config-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 2, result.stderr
    assert f"--config-dir {tmp_path / 'nowhere'}: no such folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_airflow_local_starts_standalone_with_the_generated_dags_and_the_local_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks
    from etl_framework.deploy.airflow_local import LocalProfile

    airflow = tmp_path / ".venv-airflow" / "bin" / "airflow"
    airflow.parent.mkdir(parents=True)
    airflow.write_text("#!/bin/sh\n")
    monkeypatch.setattr(tasks, "REPO", tmp_path)
    context = FakeContext()

    tasks.airflow_local.body(context, port=8181)

    (command,) = context.commands
    assert shlex.split(command) == [str(airflow), "standalone"]
    env = context.options[0]["env"]
    assert isinstance(env, dict)
    assert env["AIRFLOW_HOME"] == str(tmp_path / ".etl" / "airflow")
    assert (tmp_path / ".etl" / "airflow").is_dir()
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "gke_deploy" / "dags")
    assert env["ETL_TRANSFERS_FILE"] == str(tmp_path / "gke_deploy" / "transfers.yaml")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__PORT"] == "8181"
    assert env["AIRFLOW__API__BASE_URL"] == "http://localhost:8181"
    assert env["PYTHONPATH"] == str(tmp_path)
    assert env["PATH"].split(os.pathsep)[0] == str(airflow.parent)  # its `airflow ...` children
    # the tasks run this venv's pipeline (not Airflow's) on the local config, in the repo
    assert LocalProfile.from_environ(env) == LocalProfile(
        pipeline_command=(sys.executable, "-m", "etl_framework"),
        config=str(tmp_path / "jobs" / "config" / "local.yaml"),
        cwd=str(tmp_path),
    )


def test_airflow_local_without_the_airflow_venv_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks

    monkeypatch.setattr(tasks, "REPO", tmp_path)
    context = FakeContext()
    with pytest.raises(Exit) as info:
        tasks.airflow_local.body(context)
    assert info.value.code == 3
    assert "run script/setup/airflow" in str(info.value.message)
    assert context.commands == []
    assert not (tmp_path / ".etl").exists()
