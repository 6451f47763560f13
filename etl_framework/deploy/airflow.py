"""Thin Airflow DAGs: one KubernetesPodOperator per transfer, built from the deploy spec.

The only module of etl_framework that imports Airflow. Airflow schedules; the work
runs in our image as a pod that calls the same ``pipeline`` entry point as every
other way of running a transfer::

    pipeline {{ data_interval_start | ds_nodash }} NAME MODE CONFIG

Cron schedules use data-interval semantics (``CronDataIntervalTimetable``, UTC), so a
daily run at 03:00 processes the previous, complete day, and catchup or an Airflow
backfill maps one interval to one window, on Airflow 2.10 and 3.x alike. A run without
a data interval (Airflow 3, manual, no logical date) processes the day of its
``run_after`` (see `EXECUTION_DATE_TEMPLATE`).

What the generated task guards against:

- missing logs: ``get_logs=True`` streams the container log into the task log (also
  in deferrable mode, every `LOGGING_INTERVAL_SECONDS`);
- interrupted pods reported as success: a killed task deletes its pod and the pod's
  own exit code decides success (``pipeline`` exits non-zero on SIGTERM); job, usage
  and config errors (exit 1/2/3) fail at once instead of being retried, unless
  Kubernetes disrupted the pod (node drain, preemption);
- hidden OOM/eviction reasons: pod events and container states are logged on
  failure and the termination message falls back to the log tail;
- secrets in rendered templates: templated fields hold only plain values, Secret
  names and ``secretKeyRef`` references; key files arrive as a read-only volume.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import importlib.util
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from etl_framework.connectors import missing_extra_error

# The pod matches the Kubernetes Jobs of etl_framework.deploy.manifests and the image.
from etl_framework.deploy.manifests import (
    CONTAINER_NAME,
    FAIL_AT_ONCE_EXIT_CODES,
    RUN_AS_USER,
    SQL_PROXY_CONTAINER_NAME,
    SQL_PROXY_RESOURCES,
    TMP_SIZE_LIMIT,
    WORKDIR,
    labels,
    sql_proxy_args,
    sql_proxy_probe_command,
)
from etl_framework.deploy.spec import (
    CREDENTIALS_MOUNT_PATH,
    ENV_VAR,
    TransferSpec,
    checked_literals,
    load_transfers,
)
from etl_framework.exceptions import ExitCode

try:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import models as k8s
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise missing_extra_error(
        "apache-airflow (with apache-airflow-providers-cncf-kubernetes)", "airflow"
    ) from exc

try:  # Airflow 3
    from airflow.sdk import DAG
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # pragma: no cover - Airflow 2.10
    from airflow import DAG  # type: ignore[attr-defined,no-redef,unused-ignore]
    from airflow.exceptions import (  # type: ignore[no-redef,unused-ignore]
        AirflowException,
        AirflowFailException,
    )
try:  # Airflow 3
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # pragma: no cover - Airflow 2.10
    from airflow.timetables.interval import (  # type: ignore[no-redef,unused-ignore]
        CronDataIntervalTimetable,
    )

EXECUTION_DATE_TEMPLATE = (
    "{{ (data_interval_start if data_interval_start is defined and data_interval_start"
    " else dag_run.run_after) | ds_nodash }}"
)
"""The run's EXECUTION_DATE as YYYYMMDD: the first day of its data interval.

An Airflow 3 run without a logical date (a manual trigger that leaves it empty) has no
data interval, so ``data_interval_start`` is missing from its context; such a run
processes the day of its ``run_after`` (when it was triggered for) instead. Airflow 2
runs always have a data interval. ``is defined`` keeps Jinja's StrictUndefined quiet.
"""

COMMAND = ["pipeline"]
TIMEZONE = dt.UTC
OWNER = "etl"
DEFAULT_TAGS = ("etl",)
RETRY_BACKOFF_MULTIPLIER = 2.0
MAX_RETRY_DELAY = dt.timedelta(hours=2)
STARTUP_TIMEOUT_SECONDS = 600
"""Pending time allowed for image pulls and node scale-up before the task fails."""
LOGGING_INTERVAL_SECONDS = 120
"""In deferrable mode, how often the task wakes up to fetch the pod's new log lines."""
EXECUTION_MARGIN = dt.timedelta(minutes=15)
"""Added to the pod's active deadline to get the Airflow task's execution_timeout."""

NO_RETRY_EXIT_CODES = frozenset(FAIL_AT_ONCE_EXIT_CODES)
"""Exit codes for which another try cannot succeed (the Kubernetes Jobs' podFailurePolicy
fails at once on the same codes): the task fails without retrying (unless Kubernetes
disrupted the pod, e.g. a node drain that sent SIGTERM)."""

SKIP_EXIT_CODES = tuple(
    code.value for name in ("NOTHING_TO_DO", "SKIPPED") if (code := getattr(ExitCode, name, None))
)
"""A "nothing to do" exit code of ``pipeline`` (if the core defines one) marks the task skipped."""

PRESET_CRONS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def _retry_backoff() -> float | bool:
    # Airflow 3 takes a multiplier (float); 2.x a flag that doubles the delay (bool,
    # type-checked, so a float is refused there and True would mean "x1" on 3.x).
    for cls in KubernetesPodOperator.__mro__:
        parameter = inspect.signature(cls.__init__).parameters.get("retry_exponential_backoff")
        if parameter is not None:
            return RETRY_BACKOFF_MULTIPLIER if "float" in str(parameter.annotation) else True
    return True


class ETLPodOperator(KubernetesPodOperator):  # type: ignore[misc]
    """KubernetesPodOperator that does not retry runs whose exit code says it cannot help."""

    def __init__(
        self, *, no_retry_exit_codes: frozenset[int] = NO_RETRY_EXIT_CODES, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.no_retry_exit_codes = no_retry_exit_codes

    def cleanup(self, pod: Any, remote_pod: Any, *args: Any, **kwargs: Any) -> None:
        try:
            super().cleanup(pod, remote_pod, *args, **kwargs)
        except AirflowFailException:
            raise
        except AirflowException as exc:
            code = _exit_code(remote_pod, self.base_container_name)
            if code in self.no_retry_exit_codes and not _disrupted(remote_pod):
                raise AirflowFailException(
                    f"pipeline exited with {code} ({ExitCode(code).name.lower()}); "
                    f"retrying cannot help. {exc}"
                ) from exc
            raise


def _exit_code(remote_pod: Any, container: str) -> int | None:
    statuses = getattr(getattr(remote_pod, "status", None), "container_statuses", None) or []
    for status in statuses:
        terminated = status.state.terminated if status.name == container and status.state else None
        if terminated is not None:
            return int(terminated.exit_code)
    return None


def _disrupted(remote_pod: Any) -> bool:
    """Kubernetes ended the pod (eviction, preemption, node drain), not the job itself."""
    conditions = getattr(getattr(remote_pod, "status", None), "conditions", None) or []
    return any(c.type == "DisruptionTarget" and c.status == "True" for c in conditions)


# --- pieces of the pod -----------------------------------------------------


def _env_vars(spec: TransferSpec) -> list[Any]:
    plain = {"HOME": "/tmp", "TMPDIR": "/tmp", "ETL_IMAGE_TAG": spec.image_ref}
    if spec.credentials_path is not None:
        plain["GOOGLE_APPLICATION_CREDENTIALS"] = spec.credentials_path
    if spec.sql_proxy is not None:
        plain["ETL_SQL_PROXY_HOST"] = "127.0.0.1"
        plain["ETL_SQL_PROXY_PORT"] = str(spec.sql_proxy.port)
    plain.update(spec.plain_env())  # the spec's own values win
    plain = checked_literals(plain, spec.name)  # a secret is never a literal
    env = [k8s.V1EnvVar(name=name, value=value) for name, value in sorted(plain.items())]
    for name, ref in sorted(spec.secret_env().items()):
        selector = k8s.V1SecretKeySelector(name=ref.secret, key=ref.key)
        env.append(k8s.V1EnvVar(name=name, value_from=k8s.V1EnvVarSource(secret_key_ref=selector)))
    return env


def _credentials_mount() -> Any:
    return k8s.V1VolumeMount(name="credentials", mount_path=CREDENTIALS_MOUNT_PATH, read_only=True)


def _volumes(spec: TransferSpec) -> tuple[list[Any], list[Any]]:
    volumes = [
        k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit=TMP_SIZE_LIMIT)),
        k8s.V1Volume(name="state", empty_dir=k8s.V1EmptyDirVolumeSource()),
    ]
    mounts = [
        k8s.V1VolumeMount(name="tmp", mount_path="/tmp"),
        k8s.V1VolumeMount(name="state", mount_path=f"{WORKDIR}/.etl"),
    ]
    if spec.credentials_secret is not None:
        # 0440 + fsGroup: readable by the job's group only, never writable
        secret = k8s.V1SecretVolumeSource(secret_name=spec.credentials_secret, default_mode=0o440)
        volumes.append(k8s.V1Volume(name="credentials", secret=secret))
        mounts.append(_credentials_mount())
    return volumes, mounts


def _container_security_context() -> Any:
    return k8s.V1SecurityContext(
        run_as_non_root=True,
        run_as_user=RUN_AS_USER,
        run_as_group=RUN_AS_USER,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def _pod_security_context() -> Any:
    return k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=RUN_AS_USER,
        run_as_group=RUN_AS_USER,
        fs_group=RUN_AS_USER,
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def _sql_proxy_sidecar(spec: TransferSpec) -> list[Any]:
    if spec.sql_proxy is None:
        return []
    proxy = spec.sql_proxy

    def probe(period: int, timeout: int, failures: int) -> Any:
        # the health endpoint listens on loopback only: the proxy's own `wait` asks it
        action = k8s.V1ExecAction(command=sql_proxy_probe_command())
        return k8s.V1Probe(
            _exec=action,
            period_seconds=period,
            timeout_seconds=timeout,
            failure_threshold=failures,
        )

    container = k8s.V1Container(
        name=SQL_PROXY_CONTAINER_NAME,
        image=proxy.image,
        args=sql_proxy_args(proxy),
        # A native sidecar (Kubernetes >= 1.29): ready before `pipeline` starts (startup
        # probe), stopped by the kubelet once `pipeline` has exited.
        restart_policy="Always",
        startup_probe=probe(1, 3, 60),
        liveness_probe=probe(10, 5, 3),
        resources=k8s.V1ResourceRequirements(
            requests=SQL_PROXY_RESOURCES["requests"], limits=SQL_PROXY_RESOURCES["limits"]
        ),
        security_context=_container_security_context(),
    )
    if spec.credentials_path is not None:
        key_file = spec.plain_env().get("GOOGLE_APPLICATION_CREDENTIALS", spec.credentials_path)
        container.env = [k8s.V1EnvVar(name="GOOGLE_APPLICATION_CREDENTIALS", value=key_file)]
        container.volume_mounts = [_credentials_mount()]
    return [container]


def _timetable(schedule: str | None) -> Any:
    if schedule is None or schedule in ("@once", "@continuous"):
        return schedule
    cron = PRESET_CRONS.get(schedule, schedule)
    return CronDataIntervalTimetable(cron, timezone="UTC")


# --- documentation ----------------------------------------------------------


def job_docstring(name: str, package: str = "jobs") -> str | None:
    """The docstring of the job class registered as ``name``, read without importing it.

    The scheduler must not import job modules (they may need cloud SDKs it lacks), so
    the ``jobs`` package's source is parsed for ``@register("name")`` instead.
    """
    return _docstring_index(_package_files(package)).get(name)


def _package_files(package: str) -> tuple[tuple[str, int], ...]:
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return ()
    if found is None or not found.submodule_search_locations:
        return ()
    paths = [
        path
        for folder in found.submodule_search_locations
        for path in sorted(Path(folder).glob("*.py"))
    ]
    return tuple((str(path), path.stat().st_mtime_ns) for path in paths)


@functools.lru_cache(maxsize=8)
def _docstring_index(files: tuple[tuple[str, int], ...]) -> Mapping[str, str | None]:
    """``{transfer name: class docstring}`` of the given files (cached by mtime)."""
    index: dict[str, str | None] = {}
    for path, _mtime in files:
        try:
            tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for decorator in node.decorator_list:
                    name = _registered_name(decorator)
                    if name is not None:
                        index.setdefault(name, ast.get_docstring(node))
    return index


def _registered_name(decorator: ast.expr) -> str | None:
    """``x`` for a ``@register("x")`` / ``@registry.register("x")`` decorator."""
    if not (isinstance(decorator, ast.Call) and decorator.args):
        return None
    func = decorator.func
    called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    first = decorator.args[0]
    if called == "register" and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def describe(spec: TransferSpec) -> str:
    """Markdown shown on the DAG page: the job's docstring and how the task runs."""
    doc = job_docstring(spec.name) or spec.description or f"Runs the `{spec.name}` transfer."
    args = " ".join(spec.pipeline_args(EXECUTION_DATE_TEMPLATE))
    rows: Mapping[str, object] = {
        "command": f"`pipeline {args}`".replace("|", "\\|"),  # a table cell
        "schedule": f"`{spec.schedule}` (UTC)" if spec.schedule else "manual only",
        "mode": spec.mode.value,
        "config": f"`{spec.config}`",
        "image": f"`{spec.image_ref}`",
        "namespace": spec.namespace,
        "service account": spec.service_account or "(namespace default)",
        "credentials": (
            f"Secret `{spec.credentials_secret}` at {CREDENTIALS_MOUNT_PATH}"
            if spec.credentials_secret
            else "Workload Identity"
        ),
        "env": ", ".join(f"`{name}`" for name in spec.env) or "(none)",
        "retries": f"{spec.retries}, from {spec.retry_delay_minutes} min, doubling",
    }
    table = "\n".join(f"| {key} | {value} |" for key, value in rows.items())
    return f"{doc}\n\n| setting | value |\n| --- | --- |\n{table}\n"


# --- DAGs ------------------------------------------------------------------


def build_dag(spec: TransferSpec, *, env: str | None = None) -> Any:
    """One DAG with a single pod task running ``pipeline`` for ``spec``'s transfer.

    Args:
        spec: The merged transfer spec.
        env: Environment name, recorded as the pod's ``etl-framework.io/env`` label
            (the spec already has its overlay).
    """
    start = dt.datetime.combine(spec.start_date, dt.time(), tzinfo=TIMEZONE)
    dag_kwargs: dict[str, Any] = {}
    if not spec.allow_parallel_windows:
        dag_kwargs["max_active_runs"] = 1
    elif spec.max_active_runs is not None:
        dag_kwargs["max_active_runs"] = spec.max_active_runs
    dag = DAG(
        dag_id=spec.name,
        schedule=_timetable(spec.schedule),
        start_date=start,
        catchup=spec.catchup,
        tags=sorted({*DEFAULT_TAGS, *spec.tags}),
        doc_md=describe(spec),
        default_args={"owner": OWNER},
        **dag_kwargs,
    )
    volumes, mounts = _volumes(spec)
    with dag:
        ETLPodOperator(
            task_id="pipeline",
            name=f"etl-{spec.k8s_name}",
            namespace=spec.namespace,
            image=spec.image_ref,
            base_container_name=CONTAINER_NAME,
            image_pull_policy=spec.image_pull_policy,
            cmds=list(COMMAND),
            arguments=spec.pipeline_args(EXECUTION_DATE_TEMPLATE),
            env_vars=_env_vars(spec),
            labels=labels(spec, env),  # the same labels as the Jobs' pods
            service_account_name=spec.service_account,
            automount_service_account_token=False,  # pipeline never calls the API
            container_resources=k8s.V1ResourceRequirements(
                requests=dict(spec.resources.requests) or None,
                limits=dict(spec.resources.limits) or None,
            ),
            volumes=volumes,
            volume_mounts=mounts,
            init_containers=_sql_proxy_sidecar(spec),
            security_context=_pod_security_context(),
            container_security_context=_container_security_context(),
            active_deadline_seconds=spec.active_deadline_seconds,
            startup_timeout_seconds=STARTUP_TIMEOUT_SECONDS,
            execution_timeout=dt.timedelta(seconds=spec.active_deadline_seconds) + EXECUTION_MARGIN,
            get_logs=True,
            logging_interval=LOGGING_INTERVAL_SECONDS,  # deferrable mode: logs while running
            log_events_on_failure=True,
            termination_message_policy="FallbackToLogsOnError",
            on_finish_action="delete_succeeded_pod",
            skip_on_exit_code=list(SKIP_EXIT_CODES) or None,
            retries=spec.retries,
            retry_delay=dt.timedelta(minutes=spec.retry_delay_minutes),
            retry_exponential_backoff=_retry_backoff(),
            max_retry_delay=MAX_RETRY_DELAY,
            do_xcom_push=False,
        )
    return dag


def build_dags(path: str | Path, env: str | None = None) -> dict[str, Any]:
    """Every transfer of a deployment file as ``{dag_id: DAG}``.

    Raises:
        ConfigError: The file is unreadable or invalid (the message lists every problem).
    """
    specs = load_transfers(path, env)  # env None: $ETL_ENV, named as such in errors
    env_name = env if env is not None else os.environ.get(ENV_VAR) or None
    return {spec.name: build_dag(spec, env=env_name) for spec in specs}


__all__ = [
    "EXECUTION_DATE_TEMPLATE",
    "ETLPodOperator",
    "build_dag",
    "build_dags",
    "describe",
    "job_docstring",
]
