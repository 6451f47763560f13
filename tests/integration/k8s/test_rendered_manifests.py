"""Every rendered Job validates with kubernetes-validate --strict, loads into the client's
models unchanged, and carries no secret value."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from etl_framework.deploy.manifests import ENVIRONMENTS, build_backfill_job, build_job, to_yaml
from etl_framework.deploy.spec import SqlProxy, TransferSpec, load_transfers

REPO = Path(__file__).resolve().parents[3]
TRANSFERS = REPO / "gke_deploy" / "transfers.yaml"
K8S_VERSIONS = ("1.30.0", "1.33.0", "1.37.0")
"""1.30: oldest with everything we use on by default (podFailurePolicy, native sidecars
beta, backoffLimitPerIndex beta); 1.37: newest schemas kubernetes-validate ships."""

SECRET_VALUES = {
    "STATE_DB_URL": "postgresql+psycopg://etl:Sup3r-S3cret-pw@10.0.0.5/etl",
    "API_TOKEN": "tok_live_4f8a9b0c1d2e3f",
}
KEY_FILE = b'{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEv"}'


GAPS = [dt.date(2024, 1, d) for d in (1, 2, 5, 20, 31)]
"""Days of a backfill with gaps (``--only-missing --k8s``): the list is in the pod."""


def kubernetes_validate() -> str:
    exe = shutil.which("kubernetes-validate") or str(
        Path(sys.executable).parent / "kubernetes-validate"
    )
    if not Path(exe).exists():
        pytest.fail("kubernetes-validate is not installed: pip install 'etl_framework[dev]'")
    return exe


def secret_spec() -> TransferSpec:
    (spec,) = [s for s in load_transfers(TRANSFERS, "prod") if s.name == "demo_orders"]
    env = dict(spec.env)
    env.update({name: f"secretKeyRef:etl-secrets/{name.lower()}" for name in SECRET_VALUES})
    return spec.model_copy(update={"env": env})


def all_manifests() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    proxy = SqlProxy(instance="my-project:europe-west2:etl-state")
    for env in ENVIRONMENTS:
        for spec in load_transfers(TRANSFERS, env):
            for with_proxy in (False, True):
                choice: SqlProxy | bool = proxy if with_proxy else False
                tag = f"{env}-{spec.name}-{'proxy' if with_proxy else 'plain'}"
                out[f"{tag}-job"] = build_job(spec, "20240115", env=env, sql_proxy=choice)
                out[f"{tag}-delta-start"] = build_job(
                    spec, "20240115", delta_start_date="20240101", env=env, sql_proxy=choice
                )
                out[f"{tag}-backfill"] = build_backfill_job(
                    spec, "20240101", "20240131", parallelism=4, env=env, sql_proxy=choice
                )
                out[f"{tag}-backfill-gaps"] = build_backfill_job(
                    spec, "20240101", "20240131", days=GAPS, env=env, sql_proxy=choice
                )
    spec = secret_spec()
    out["secrets-job"] = build_job(spec, "20240115", env="prod", sql_proxy=proxy)
    out["secrets-backfill"] = build_backfill_job(spec, "20240101", "20240103", env="prod")
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("manifests")
    files = {}
    for name, manifest in all_manifests().items():
        path = root / f"{name}.yaml"
        path.write_text(to_yaml(manifest))
        files[name] = path
    committed = sorted((REPO / "gke_deploy" / "manifests").rglob("*.yaml"))
    assert committed, "gke_deploy/manifests/ is empty: run `invoke render-manifests`"
    for path in committed:
        files[f"committed-{path.parent.name}-{path.stem}"] = path
    return files


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_validate_strict(rendered: dict[str, Path], version: str) -> None:
    result = subprocess.run(
        [kubernetes_validate(), "--strict", "-k", version, *map(str, rendered.values())],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passed = [line for line in result.stdout.splitlines() if " passed for resource job/" in line]
    assert len(passed) == len(rendered), result.stdout


def test_kubernetes_validate_catches_a_broken_manifest(tmp_path: Path) -> None:
    """The check above can fail: an unknown field is rejected in strict mode."""
    manifest = build_job(load_transfers(TRANSFERS, "dev")[0], "20240115")
    manifest["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    path = tmp_path / "broken.yaml"
    path.write_text(to_yaml(manifest))
    result = subprocess.run(
        [kubernetes_validate(), "--strict", "-k", K8S_VERSIONS[0], str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0


def deserialize(client: Any, manifest: dict[str, Any], kind: str) -> Any:
    """ApiClient.deserialize across client versions (36 takes a response, 37 its text)."""
    try:
        return client.deserialize(json.dumps(manifest), kind, "application/json")
    except TypeError:
        response = type("Response", (), {"data": json.dumps(manifest)})()
        return client.deserialize(response, kind)


def test_manifests_deserialize_into_client_models_without_losing_fields() -> None:
    from kubernetes.client import ApiClient, V1Job

    client = ApiClient()
    for name, manifest in all_manifests().items():
        model = deserialize(client, manifest, "V1Job")
        assert isinstance(model, V1Job), name
        assert client.sanitize_for_serialization(model) == manifest, name
        container = model.spec.template.spec.containers[0]
        assert container.security_context.read_only_root_filesystem is True
        for init in model.spec.template.spec.init_containers or []:
            assert init.restart_policy == "Always"


def test_no_secret_value_reaches_a_rendered_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The secrets exist where a careless renderer could pick them up: env and key files.
    for name, value in SECRET_VALUES.items():
        monkeypatch.setenv(name, value)
    keys = tmp_path / "keyscredentials"
    keys.mkdir()
    (keys / "key.json").write_bytes(KEY_FILE)
    monkeypatch.chdir(tmp_path)
    texts = {name: to_yaml(m) for name, m in all_manifests().items()}
    texts.update(
        {str(p): p.read_text() for p in (REPO / "gke_deploy" / "manifests").rglob("*.yaml")}
    )
    needles = [*SECRET_VALUES.values(), "Sup3r-S3cret-pw", "PRIVATE KEY", "private_key"]
    needles += [base64.b64encode(v.encode()).decode() for v in SECRET_VALUES.values()]
    needles.append(base64.b64encode(KEY_FILE).decode()[:40])
    for name, text in texts.items():
        for needle in needles:
            assert needle not in text, f"{needle!r} leaked into {name}"
    # ...while the references are there
    assert "secretKeyRef" in texts["secrets-job"] and "etl-secrets" in texts["secrets-job"]


def k8s_cli(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ETL_")}
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "etl_framework.deploy", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_render_cli() -> None:
    result = k8s_cli("render", "--env", "dev", "--transfer", "demo_orders", "--date", "20240115")
    assert result.returncode == 0, result.stderr
    job = yaml.safe_load(result.stdout)
    assert job["metadata"]["namespace"] == "etl-dev"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][:2] == [
        "20240115",
        "demo_orders",
    ]

    backfill = k8s_cli(
        "render", "--env", "prod", "--transfer", "demo_orders", "--backfill", "20240101", "20240110"
    )
    assert backfill.returncode == 0, backfill.stderr
    assert yaml.safe_load(backfill.stdout)["spec"]["completions"] == 10

    unknown = k8s_cli("render", "--env", "dev", "--transfer", "demo_ordres", "--date", "20240115")
    assert unknown.returncode == 2 and "demo_orders" in unknown.stderr
    no_proxy = k8s_cli(
        "render", "--env", "dev", "--transfer", "demo_orders", "--date", "20240115", "--sql-proxy"
    )
    assert no_proxy.returncode == 3 and "sql_proxy" in no_proxy.stderr


def test_exec_index_runs_the_day_of_its_completion_index(tmp_path: Path) -> None:
    """What a backfill pod does: index 2 of a backfill from 20240101 is the 3rd of January."""
    import sqlite3

    (tmp_path / "jobs" / "config").mkdir(parents=True)
    shutil.copy(REPO / "jobs" / "config" / "local.yaml", tmp_path / "jobs" / "config")
    result = k8s_cli(
        "exec-index",
        "--",
        "demo_orders",
        "delta",
        "jobs/config/local.yaml",
        cwd=tmp_path,
        ETL_BACKFILL_START="20240101",
        JOB_COMPLETION_INDEX="2",
    )
    assert result.returncode == 0, result.stderr
    assert "pipeline 20240103 demo_orders delta" in result.stderr
    conn = sqlite3.connect(tmp_path / ".etl" / "warehouse.db")
    try:
        days = {d for (d,) in conn.execute("SELECT DISTINCT substr(order_date, 1, 10) FROM orders")}
    finally:
        conn.close()
    assert days == {"2024-01-03"}

    # a backfill with gaps: index 1 of the listed days is the 5th of January
    listed = k8s_cli(
        "exec-index",
        "--",
        "demo_orders",
        "delta",
        "jobs/config/local.yaml",
        cwd=tmp_path,
        ETL_BACKFILL_START="20240101",
        ETL_BACKFILL_DAYS="20240101,20240105,20240109",
        JOB_COMPLETION_INDEX="1",
    )
    assert listed.returncode == 0, listed.stderr
    assert "pipeline 20240105 demo_orders delta" in listed.stderr
    outside = k8s_cli(
        "exec-index", "--", "demo_orders", "delta", "jobs/config/local.yaml", cwd=tmp_path,
        ETL_BACKFILL_START="20240101", ETL_BACKFILL_DAYS="20240101", JOB_COMPLETION_INDEX="1",
    )  # fmt: skip
    assert outside.returncode == 2 and "outside the 1 days" in outside.stderr

    missing = k8s_cli("exec-index", "--", "demo_orders", "delta", "x.yaml", cwd=tmp_path)
    assert missing.returncode == 2 and "ETL_BACKFILL_START" in missing.stderr


def test_every_rendered_pod_is_locked_down(rendered: dict[str, Path]) -> None:
    """No API token, a loopback-only proxy health endpoint, no moving image pulled Always."""
    for name, path in rendered.items():
        (job,) = list(yaml.safe_load_all(path.read_text()))
        pod = job["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        for container in [*pod["containers"], *pod.get("initContainers", [])]:
            image = container["image"]
            assert not image.endswith(":latest"), (name, image)
            assert ":" in image.rsplit("/", 1)[-1] or "@sha256:" in image, (name, image)
            if container["name"] == "cloud-sql-proxy":
                args = container["args"]
                (address,) = [a for a in args if a.startswith("--http-address=")]
                assert address == "--http-address=127.0.0.1", (name, address)
                for probe in ("startupProbe", "livenessProbe"):
                    assert "httpGet" not in container[probe], (name, probe)
                    assert "--http-address=127.0.0.1" in container[probe]["exec"]["command"]
        (main,) = pod["containers"]
        if main.get("imagePullPolicy") == "Always":
            assert not main["image"].endswith(":latest"), name
