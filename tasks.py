"""Build, test and ship the job image; run transfers on Kubernetes (``invoke --list``).

Every task is a thin wrapper: the logic lives in the ``etl_framework.deploy`` package
(spec of gke_deploy/transfers.yaml, manifests, launcher, credentials, image).
A failing step fails the task with that step's exit code; nothing is masked.

    invoke make-docker-image                      # localhost/etl-framework:dev
    invoke test-docker-local --test-execution-date 20240115
    invoke deploy-docker-image --env dev          # tag + push to the registry in transfers.yaml
    invoke local-deploy-gke [--env local|dev|prod] [--sql-proxy]
    invoke backfill-gke --env prod --start 20240101 --end 20240131 --parallelism 4
    invoke fetch-credentials && invoke create-credentials-secret --env dev
    invoke airflow-local                          # Airflow standalone, tasks run pipeline locally
    invoke check                                  # format, lint, types, unit tests
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from pydantic import ValidationError

from etl_framework._version import __version__
from etl_framework.deploy import credentials, image, launcher, manifests
from etl_framework.deploy.airflow_local import LocalProfile
from etl_framework.deploy.outcome import JobOutcome
from etl_framework.deploy.spec import (
    CREDENTIALS_MOUNT_PATH,
    DEFAULT_TRANSFERS_FILE,
    TransferSpec,
    get_transfer,
)
from etl_framework.exceptions import ETLError, ExitCode
from etl_framework.window import WriteMode

REPO = Path(__file__).resolve().parent
LOCAL_IMAGE = f"{image.LOCAL_IMAGE}:{image.DEFAULT_TAG}"
DEMO_TRANSFER = "demo_orders"
LOCAL_CONFIG = "jobs/config/local.yaml"
LOCAL_ENV = "local"
"""The default --env of test-docker-local and local-deploy-gke (the TMGETL seed's)."""
IMAGE_WORKDIR = "/app"  # the image's WORKDIR: relative paths in a config start here
AIRFLOW_VENV = ".venv-airflow"
AIRFLOW_HOME = ".etl/airflow"
DAGS_FOLDER = "gke_deploy/dags"


P = ParamSpec("P")
R = TypeVar("R")


def _clean_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Our errors end the task with their message and exit code, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ETLError as exc:
            raise Exit(f"error: {exc}", code=int(exc.exit_code)) from exc

    return wrapper


def _yesterday() -> str:
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).strftime("%Y%m%d")


def _run(c: Context, cmd: list[str]) -> None:
    # warn=False: a non-zero exit raises UnexpectedExit and invoke exits with that code
    c.run(shlex.join(cmd), echo=True, pty=False, warn=False)


def _spec(
    transfer: str, env: str, transfers_file: str, *, tag: str = "", digest: str = ""
) -> TransferSpec:
    """The merged spec; ``tag`` / ``digest`` run the image the build pushed instead. A
    transfer the image would not know is refused here, not after a Job was created."""
    from etl_framework import registry

    spec = get_transfer(transfer, REPO / transfers_file, env=env)
    registry.get(spec.name)
    updates = {k: v for k, v in {"tag": tag, "digest": digest}.items() if v}
    if not updates:
        return spec
    try:
        return TransferSpec.model_validate({**spec.model_dump(), **updates})
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]) for e in exc.errors())
        raise Exit(f"error: {problems}", code=int(ExitCode.USAGE)) from None


def _finish(outcome: JobOutcome) -> None:
    if outcome.summary:
        print(f"run summary: {outcome.summary}")
    if not outcome.succeeded:
        raise Exit(f"Job {outcome.reason.value}: {outcome.message}", code=outcome.exit_code)
    print(f"Job succeeded: {outcome.message}")


@task(
    help={
        "tag": f"Image name:tag (default {LOCAL_IMAGE})",
        "engine": "docker|podman (default: docker if its daemon answers, else podman)",
        "revision": "org.opencontainers.image.revision label (default: git HEAD)",
        "base_image": "Base image REPOSITORY@sha256:DIGEST (default: the Dockerfile's pin)",
    }
)
@_clean_errors
def make_docker_image(
    c: Context, tag: str = LOCAL_IMAGE, engine: str = "", revision: str = "", base_image: str = ""
) -> None:
    """Build the job image (labels: version, git revision; pip settings as build secrets)."""
    chosen = image.pick_engine(engine or None)
    with tempfile.TemporaryDirectory(prefix="etl-build-") as tmp:
        secrets = image.write_build_secrets(tmp, image.parse_pip_config(image.pip_config_listing()))
        _run(
            c,
            image.build_command(
                chosen,
                tag,
                context=REPO,
                version=__version__,
                revision=revision or image.git_revision(REPO),
                secrets=secrets,
                base_image=base_image or None,
            ),
        )


@task(
    help={
        "test_execution_date": "EXECUTION_DATE YYYYMMDD (default: yesterday, UTC)",
        "env": "local (demo config, SQLite in the container) | dev | prod (transfers.yaml)",
        "transfer": f"Transfer name (default {DEMO_TRANSFER})",
        "tag": f"Image to run (default {LOCAL_IMAGE})",
        "engine": "docker|podman",
        "config_dir": "Folder mounted read-only over the image's jobs/config (e.g. jobs/config)",
        "data_dir": "Folder mounted read-only at the same path under /app when it is in the"
        " repository (e.g. jobs/samples), else at /app/data",
    }
)
@_clean_errors
def test_docker_local(
    c: Context,
    test_execution_date: str = "",
    env: str = LOCAL_ENV,
    transfer: str = DEMO_TRANSFER,
    tag: str = LOCAL_IMAGE,
    engine: str = "",
    transfers_file: str = DEFAULT_TRANSFERS_FILE,
    config_dir: str = "",
    data_dir: str = "",
) -> None:
    """Run one transfer in the image like a pod (non-root, read-only root); fails if it fails.

    ``--config-dir`` / ``--data-dir`` mount local folders read-only, so a new job's
    config and sample data can be tried in the image without rebuilding it.
    """
    volumes = _local_mounts(config_dir, data_dir)
    chosen = image.pick_engine(engine or None)
    day = test_execution_date or _yesterday()
    run_env: dict[str, str] = {}
    if env == LOCAL_ENV:
        args = [day, transfer, "truncate", LOCAL_CONFIG]
    else:
        spec = _spec(transfer, env, transfers_file)
        args = spec.pipeline_args(day)
        run_env.update(spec.plain_env())
        keys = REPO / credentials.KEYS_DIR
        if (keys / spec.credentials_key).exists():
            # the fetched key files stand in for the credentials Secret, at the same path
            volumes.append(f"{keys}:{CREDENTIALS_MOUNT_PATH}:ro")
            run_env.setdefault(
                "GOOGLE_APPLICATION_CREDENTIALS",
                spec.credentials_path or f"{CREDENTIALS_MOUNT_PATH}/{spec.credentials_key}",
            )
    _run(c, image.run_command(chosen, tag, args, env=run_env, volumes=volumes))


def _local_mounts(config_dir: str, data_dir: str) -> list[str]:
    """``-v`` values: ``config_dir`` over the image's ``jobs/config``; ``data_dir`` at its
    own path under the image's workdir when inside the repository (so the config's relative
    paths, e.g. ``jobs/samples/x.csv``, hold in the container as on the host), else at
    ``/app/data``. A folder that does not exist is a usage error (exit 2)."""
    volumes = []
    for option, folder in (("--config-dir", config_dir), ("--data-dir", data_dir)):
        if not folder:
            continue
        path = Path(folder).resolve()
        if not path.is_dir():
            raise Exit(f"error: {option} {folder}: no such folder", code=int(ExitCode.USAGE))
        if option == "--config-dir":
            target = f"{IMAGE_WORKDIR}/{Path(LOCAL_CONFIG).parent.as_posix()}"
        elif path.is_relative_to(REPO.resolve()) and path != REPO.resolve():
            target = f"{IMAGE_WORKDIR}/{path.relative_to(REPO.resolve()).as_posix()}"
        else:
            target = f"{IMAGE_WORKDIR}/data"
        volumes.append(f"{path}:{target}:ro")
    return volumes


@task(
    help={
        "env": "Environment whose image repository and tag to push to (dev|prod)",
        "tag": "Registry tag (default: the environment's tag in transfers.yaml)",
        "local": f"Local image to push (default {LOCAL_IMAGE})",
        "engine": "docker|podman",
    }
)
@_clean_errors
def deploy_docker_image(
    c: Context,
    env: str = "dev",
    tag: str = "",
    local: str = LOCAL_IMAGE,
    transfer: str = DEMO_TRANSFER,
    engine: str = "",
    transfers_file: str = DEFAULT_TRANSFERS_FILE,
) -> None:
    """Tag the local image with the registry name from transfers.yaml and push it."""
    chosen = image.pick_engine(engine or None)
    spec = _spec(transfer, env, transfers_file)
    remote = f"{spec.image}:{tag or spec.tag}"
    for cmd in image.push_commands(chosen, local, remote):
        _run(c, cmd)


@task(
    help={
        "env": "local (default: local cluster, local image, jobs/config/local.yaml) | dev | prod",
        "sql_proxy": "Run the Cloud SQL Auth Proxy sidecar (instance from transfers.yaml)",
        "execution_date": "EXECUTION_DATE YYYYMMDD (default: yesterday, UTC)",
        "delta_start_date": "--delta_start_date YYYYMMDD",
        "context": "kubeconfig context (default: current)",
        "dry_run": "Print the manifest instead of submitting it",
        "unschedulable_timeout": "Seconds a pod may stay unschedulable before giving up",
        "tag": "Image tag to run (default: the environment's in transfers.yaml)",
        "digest": "Image digest sha256:... to run (wins over any tag)",
    }
)
@_clean_errors
def local_deploy_gke(
    c: Context,
    env: str = LOCAL_ENV,
    sql_proxy: bool = False,
    transfer: str = DEMO_TRANSFER,
    execution_date: str = "",
    delta_start_date: str = "",
    context: str = "",
    dry_run: bool = False,
    unschedulable_timeout: int = 300,
    transfers_file: str = DEFAULT_TRANSFERS_FILE,
    tag: str = "",
    digest: str = "",
) -> None:
    """Render the transfer's Job, submit it, follow its logs and exit with its status."""
    spec = _spec(transfer, env, transfers_file, tag=tag, digest=digest)
    if env == LOCAL_ENV:  # the overlay picks the local image; the config is the image's own
        spec = spec.model_copy(update={"config": LOCAL_CONFIG})
    job = manifests.build_job(
        spec,
        execution_date or _yesterday(),
        delta_start_date=delta_start_date or None,
        env=env,
        sql_proxy=True if sql_proxy else None,
        name_suffix=manifests.random_suffix(),
    )
    if dry_run:
        print(manifests.to_yaml(job), end="")
        return
    timeouts = launcher.Timeouts(unschedulable=unschedulable_timeout)
    _finish(launcher.run_job(job, context=context or None, timeouts=timeouts))


@task(
    help={
        "start": "First day YYYYMMDD",
        "end": "Last day YYYYMMDD (inclusive)",
        "parallelism": "Days running at once",
        "env": "dev|prod",
        "sql_proxy": "Run the Cloud SQL Auth Proxy sidecar",
        "dry_run": "Print the manifest instead of submitting it",
        "mode": "delta: backfill a truncate transfer as delta windows anyway"
        " (default: refused unless the transfer's mode is delta)",
        "tag": "Image tag to run (default: the environment's in transfers.yaml)",
        "digest": "Image digest sha256:... to run (wins over any tag)",
    }
)
@_clean_errors
def backfill_gke(
    c: Context,
    start: str,
    end: str,
    parallelism: int = 2,
    env: str = "dev",
    sql_proxy: bool = False,
    transfer: str = DEMO_TRANSFER,
    context: str = "",
    dry_run: bool = False,
    transfers_file: str = DEFAULT_TRANSFERS_FILE,
    mode: str = "",
    tag: str = "",
    digest: str = "",
) -> None:
    """Backfill [start, end] as one Indexed Job: one delta window per day, N at a time."""
    if mode and mode != WriteMode.DELTA.value:
        raise Exit(f"--mode must be {WriteMode.DELTA.value!r}: a backfill runs delta windows", 2)
    spec = _spec(transfer, env, transfers_file, tag=tag, digest=digest)
    job = manifests.build_backfill_job(
        spec,
        start,
        end,
        parallelism=parallelism,
        env=env,
        sql_proxy=True if sql_proxy else None,
        name_suffix=manifests.random_suffix(),
        mode=WriteMode.DELTA if mode else None,
    )
    if dry_run:
        print(manifests.to_yaml(job), end="")
        return
    _finish(launcher.run_job(job, context=context or None))


@task(help={"download_list": "List of gs:// key files", "dest": "Target directory"})
@_clean_errors
def fetch_credentials(
    c: Context, download_list: str = credentials.DOWNLOAD_LIST, dest: str = credentials.KEYS_DIR
) -> None:
    """Download the service-account keys in keyscredentials/download_list.txt (mode 0600)."""
    sources = credentials.read_download_list(REPO / download_list)
    for path in credentials.fetch_credentials(sources, REPO / dest):
        print(f"fetched {path.relative_to(REPO)}")


@task(
    help={
        "env": "Environment whose namespace and credentials_secret to use (dev|prod)",
        "context": "kubeconfig context (default: current)",
    }
)
@_clean_errors
def create_credentials_secret(
    c: Context,
    env: str = "dev",
    transfer: str = DEMO_TRANSFER,
    context: str = "",
    download_list: str = credentials.DOWNLOAD_LIST,
    transfers_file: str = DEFAULT_TRANSFERS_FILE,
) -> None:
    """Create (or replace) the Kubernetes Secret the Jobs mount, from the fetched key files."""
    spec = _spec(transfer, env, transfers_file)
    if not spec.credentials_secret:
        raise Exit(f"credentials_secret is null for {env}: Workload Identity, no Secret needed")
    names = [s.local_name for s in credentials.read_download_list(REPO / download_list)]
    files = [REPO / credentials.KEYS_DIR / name for name in names]
    secret = credentials.build_credentials_secret(
        files, name=spec.credentials_secret, namespace=spec.namespace
    )
    _batch, core = launcher.load_clients(context or None)
    action = credentials.apply_secret(secret, core)
    print(f"{action} Secret {spec.namespace}/{spec.credentials_secret} ({', '.join(names)})")


def airflow_local_command(
    repo: Path, *, transfers_file: str, config: str, port: int, airflow: str = ""
) -> tuple[list[str], dict[str, str]]:
    """``airflow standalone`` and its environment: AIRFLOW_HOME under .etl/airflow, the
    DAG folder holding the generated DAG file, the local profile (this venv's
    ``pipeline``, the local config, the repository as working directory)."""
    executable = Path(airflow) if airflow else repo / AIRFLOW_VENV / "bin" / "airflow"
    if not executable.exists():
        raise Exit(
            f"error: {executable} is missing: run script/setup/airflow (or pass --airflow)",
            code=int(ExitCode.CONFIG),
        )
    profile = LocalProfile(
        pipeline_command=(sys.executable, "-m", "etl_framework"),
        config=str(repo / config),
        cwd=str(repo),
    )
    env = {
        "AIRFLOW_HOME": str(repo / AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(repo / DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__PORT": str(port),
        # the tasks reach the execution API at {base_url}/execution/ (default port 8080)
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "ETL_TRANSFERS_FILE": str(repo / transfers_file),
        # this checkout, in Airflow's venv (the DAG file) and in the pipeline it starts
        "PYTHONPATH": str(repo),
        # standalone starts its components as `airflow ...` from PATH
        "PATH": os.pathsep.join([str(executable.parent), os.environ.get("PATH", "")]),
        **profile.environ(),
    }
    return [str(executable), "standalone"], env


@task(
    help={
        "port": "Port of the Airflow UI and API (default 8080; not 8793/8794, Airflow's log"
        " servers)",
        "config": f"Config every transfer runs with (default {LOCAL_CONFIG})",
        "airflow": f"The airflow command (default {AIRFLOW_VENV}/bin/airflow)",
    }
)
@_clean_errors
def airflow_local(
    c: Context,
    port: int = 8080,
    config: str = LOCAL_CONFIG,
    transfers_file: str = DEFAULT_TRANSFERS_FILE,
    airflow: str = "",
) -> None:
    """Start `airflow standalone` with the generated DAGs; tasks run `pipeline` locally."""
    cmd, env = airflow_local_command(
        REPO, transfers_file=transfers_file, config=config, port=port, airflow=airflow
    )
    (REPO / AIRFLOW_HOME).mkdir(parents=True, exist_ok=True)
    print(
        f"Airflow on http://localhost:{port} (login: admin, password in"
        f" {AIRFLOW_HOME}/simple_auth_manager_passwords.json.generated); Ctrl-C stops it"
    )
    c.run(shlex.join(cmd), env=env, echo=True, pty=False, warn=False)


@task
@_clean_errors
def render_manifests(c: Context, out: str = "gke_deploy/manifests") -> None:
    """Regenerate the example Job manifests under gke_deploy/manifests from transfers.yaml."""
    _run(c, [sys.executable, "-m", "etl_framework.deploy", "render-examples", "--out", out])


@task
@_clean_errors
def check(c: Context) -> None:
    """Format check, lint, type check and unit tests: the same gate as CI.

    Runs all four so one report shows every problem, then fails if any step failed.
    """
    python = sys.executable
    steps = {
        "format": [python, "-m", "ruff", "format", "--check", "."],
        "lint": [python, "-m", "ruff", "check", "."],
        "types": [python, "-m", "mypy"],
        "unit tests": [python, "-m", "pytest", "-q", "tests/unit"],
    }
    failed = []
    for name, cmd in steps.items():
        result = c.run(shlex.join(cmd), echo=True, pty=False, warn=True)
        if result is None or result.failed:
            failed.append(name)
    if failed:
        raise Exit(f"check failed: {', '.join(failed)}", code=1)


ns = Collection(
    make_docker_image,
    test_docker_local,
    deploy_docker_image,
    local_deploy_gke,
    backfill_gke,
    fetch_credentials,
    create_credentials_secret,
    render_manifests,
    airflow_local,
    check,
)
