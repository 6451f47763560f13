"""Thin Airflow DAGs: one KubernetesPodOperator per transfer, built from the deploy spec.

The only module of etl_framework that imports Airflow. Airflow schedules; the work
runs in our image as a pod that calls the same ``pipeline`` entry point as every
other way of running a transfer. The pod is the Kubernetes Jobs' pod
(`etl_framework.deploy.manifests.build_pod_spec`: container, env, volumes, security
contexts, Cloud SQL proxy sidecar), converted once into the operator's
``full_pod_spec``; the operator adds only what is Airflow's (the templated date, labels,
deadline, logs, retries)::

    pipeline {{ data_interval_start | ds_nodash }} NAME MODE CONFIG

In the local profile (`etl_framework.deploy.airflow_local`, ``ETL_AIRFLOW_PROFILE=local``)
the task is an `ETLLocalOperator` instead: the same arguments, a local config, run as a
subprocess of the worker, with the same retry rules.

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
- secrets in rendered templates: the pod (env included) is ``full_pod_spec``, which
  Airflow never renders; templated fields hold the image, command, arguments and the
  run id annotation (``{{ run_id }}``, which the pod's ``$ETL_ORCHESTRATOR_RUN_ID``
  reads through the downward API) only; secrets are ``secretKeyRef`` references and
  key files arrive as a read-only volume.
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

from etl_framework.deploy.airflow_local import ENV_ORCHESTRATOR_RUN_ID, LocalProfile
from etl_framework.deploy.manifests import (
    AIRFLOW_RUN_ID_ANNOTATION,
    AIRFLOW_RUN_ID_FIELD,
    FAIL_AT_ONCE_EXIT_CODES,
    build_pod_spec,
    labels,
)
from etl_framework.deploy.spec import (
    CREDENTIALS_MOUNT_PATH,
    TransferSpec,
    load_transfers,
    selected_environment,
)
from etl_framework.exceptions import ConfigValidationError, ExitCode, missing_extra_error

try:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
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
try:  # Airflow 3: data-aware scheduling on assets
    from airflow.sdk import Asset, AssetOrTimeSchedule
except ImportError:  # pragma: no cover - Airflow 2.10: datasets, no asset-or-time schedule
    from airflow.datasets import Dataset as Asset  # type: ignore[no-redef,unused-ignore]

    AssetOrTimeSchedule = None
try:  # Airflow 3
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # pragma: no cover - Airflow 2.10
    from airflow.operators.empty import EmptyOperator  # type: ignore[no-redef,unused-ignore]
try:  # Airflow 3: the local profile's subprocess task
    from airflow.providers.common.compat.sdk import context_to_airflow_vars
    from airflow.providers.standard.hooks.subprocess import SubprocessHook
    from airflow.sdk import BaseOperator
except ImportError:  # pragma: no cover - Airflow 2.10
    from airflow.hooks.subprocess import SubprocessHook  # type: ignore[no-redef,unused-ignore]
    from airflow.models.baseoperator import (  # type: ignore[no-redef,assignment,unused-ignore]
        BaseOperator,
    )
    from airflow.utils.operator_helpers import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        context_to_airflow_vars,
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


class ETLLocalOperator(BaseOperator):  # type: ignore[misc]
    """Runs ``pipeline`` as a child process of the worker (the DAGs' local profile).

    Exit codes as for the pod: 0 succeeds; 1, 2 and 3 fail at once (another try cannot
    help); 75 (not ready yet, transient), 4 (lease held) and every other code fail the
    try, which Airflow retries. The child gets the worker's environment, Airflow's
    ``AIRFLOW_CTX_*`` variables and the run id as ``ETL_ORCHESTRATOR_RUN_ID``; a killed
    task sends it SIGTERM.
    """

    template_fields = ("arguments",)  # the execution date; the command is never rendered
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        command: list[str],
        arguments: list[str],
        cwd: str | None = None,
        no_retry_exit_codes: frozenset[int] = NO_RETRY_EXIT_CODES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.command = list(command)
        self.arguments = list(arguments)
        self.cwd = cwd
        self.no_retry_exit_codes = no_retry_exit_codes

    @functools.cached_property
    def subprocess_hook(self) -> Any:
        return SubprocessHook()

    def execute(self, context: Any) -> None:
        env = dict(os.environ)
        env.update(context_to_airflow_vars(context, in_env_var_format=True))
        run_id = context.get("run_id")
        if run_id:
            env[ENV_ORCHESTRATOR_RUN_ID] = str(run_id)
        # cwd None would be a temporary directory: a local SQLite ledger would vanish
        cwd = self.cwd or os.getcwd()
        result = self.subprocess_hook.run_command(
            command=[*self.command, *self.arguments], env=env, cwd=cwd
        )
        code = result.exit_code
        if code == 0:
            return
        try:
            known = ExitCode(code).name.lower()
        except ValueError:  # e.g. 137: killed
            known = "failed"
        if code in self.no_retry_exit_codes:
            raise AirflowFailException(
                f"pipeline exited with {code} ({known}); retrying cannot help"
            )
        raise AirflowException(f"pipeline exited with {code} ({known}); Airflow retries it")

    def on_kill(self) -> None:
        self.subprocess_hook.send_sigterm()


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


# --- the pod ------------------------------------------------------------------


RUN_ID_TEMPLATE = "{{ run_id }}"
"""The pod annotation `AIRFLOW_RUN_ID_ANNOTATION`: the DAG run's id, which the pod's
``$ETL_ORCHESTRATOR_RUN_ID`` reads (downward API) into the ledger's run."""


def pod_spec(spec: TransferSpec) -> dict[str, Any]:
    """The DAG's pod spec: `build_pod_spec`, the Kubernetes Jobs' pod, with the execution
    date as a template (rendered by Airflow in the operator's ``arguments``) and
    ``$ETL_ORCHESTRATOR_RUN_ID`` read from the pod's run id annotation instead of the
    Job's name."""
    return build_pod_spec(
        spec, spec.pipeline_args(EXECUTION_DATE_TEMPLATE), run_id_field=AIRFLOW_RUN_ID_FIELD
    )


def full_pod(pod: Mapping[str, Any]) -> Any:
    """A pod spec dict as the ``k8s.V1Pod`` the operator's ``full_pod_spec`` takes
    (converted by the provider's own deserializer, as for a ``pod_template_dict``)."""
    return PodGenerator.deserialize_model_dict({"spec": dict(pod)})


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


def registered_in_sources() -> tuple[frozenset[str], list[str]] | None:
    """Transfer names registered in the job sources the scheduler can see (parsed, never
    imported): the ``jobs`` package and the modules named by ``$ETL_JOBS_MODULES``,
    with what was searched. None when no job source is visible at all."""
    from etl_framework.registry import ENV_JOBS_MODULES, JOBS_PACKAGE, extra_modules

    files = list(_package_files(JOBS_PACKAGE))
    for module in extra_modules():
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        if found is not None and found.origin and found.origin.endswith(".py"):
            origin = Path(found.origin)
            files.append((str(origin), origin.stat().st_mtime_ns))
    if not files:
        return None
    searched = [f"the {JOBS_PACKAGE!r} package"]
    if extra_modules():
        searched.append(f"{ENV_JOBS_MODULES}={','.join(extra_modules())}")
    return frozenset(_docstring_index(tuple(files))), searched


def _require_registered(specs: list[TransferSpec], location: str) -> None:
    """A DAG for a transfer no visible job source registers would fail at run time."""
    found = registered_in_sources()
    if found is None:
        return  # no job source next to the scheduler: the image decides
    known, searched = found
    problems = [
        (
            f"transfers[{index}].name",
            f"{spec.name!r} is not a registered transfer (searched {', '.join(searched)})",
        )
        for index, spec in enumerate(specs)
        if spec.name not in known
    ]
    if problems:
        raise ConfigValidationError(location, problems)


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


def describe(spec: TransferSpec, local: LocalProfile | None = None) -> str:
    """Markdown shown on the DAG page: the job's docstring and how the task runs."""
    doc = job_docstring(spec.name) or spec.description or f"Runs the `{spec.name}` transfer."
    if local is not None:
        argv = " ".join(local.argv(spec, EXECUTION_DATE_TEMPLATE))
        command = f"`{argv}`".replace("|", "\\|")
        return (
            f"{doc}\n\n| setting | value |\n| --- | --- |\n| command | {command} |\n"
            f"| runs | locally, in a subprocess (profile `local`) |\n"
        )
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


def _schedule(spec: TransferSpec, assets: Mapping[str, str]) -> Any:
    """The time schedule, the upstream assets (all of them updated), or either."""
    timetable = _timetable(spec.schedule)
    if not spec.schedule_on_upstream:
        return timetable
    upstream = [Asset(assets.get(name, f"etl://transfer/{name}")) for name in spec.depends_on]
    condition = upstream[0]
    for asset in upstream[1:]:
        condition = condition & asset
    if timetable is None:
        return condition
    if AssetOrTimeSchedule is None or isinstance(timetable, str):  # pragma: no cover
        raise ConfigValidationError(
            spec.name, [("schedule", "a time schedule with schedule_on_upstream needs Airflow 3")]
        )
    return AssetOrTimeSchedule(timetable=timetable, assets=condition)


def build_dag(
    spec: TransferSpec,
    *,
    env: str | None = None,
    assets: Mapping[str, str] | None = None,
    local: LocalProfile | None = None,
) -> Any:
    """One DAG with a single pod task running ``pipeline`` for ``spec``'s transfer.

    The task's outlet is the transfer's asset (`TransferSpec.asset_uri`); with
    ``schedule_on_upstream`` the DAG runs when its ``depends_on`` assets were updated.

    Args:
        spec: The merged transfer spec.
        env: Environment name, recorded as the pod's ``etl-framework.io/env`` label
            (the spec already has its overlay).
        assets: Asset URI by transfer name (the other transfers of the file).
        local: Run ``pipeline`` in a subprocess of the worker instead of a pod
            (`etl_framework.deploy.airflow_local`).
    """
    start = dt.datetime.combine(spec.start_date, dt.time(), tzinfo=TIMEZONE)
    dag_kwargs: dict[str, Any] = {}
    if spec.end_date is not None:
        dag_kwargs["end_date"] = dt.datetime.combine(spec.end_date, dt.time(), tzinfo=TIMEZONE)
    if not spec.allow_parallel_windows:
        dag_kwargs["max_active_runs"] = 1
    elif spec.max_active_runs is not None:
        dag_kwargs["max_active_runs"] = spec.max_active_runs
    dag = DAG(
        dag_id=spec.name,
        schedule=_schedule(spec, assets or {}),
        start_date=start,
        catchup=spec.catchup,
        tags=sorted({*DEFAULT_TAGS, *spec.tags}),
        doc_md=describe(spec, local),
        default_args={"owner": OWNER},
        **dag_kwargs,
    )
    with dag:
        _task(spec, env, task_id="pipeline", local=local)
    return dag


def _task(spec: TransferSpec, env: str | None, *, task_id: str, local: LocalProfile | None) -> Any:
    """The task running ``pipeline`` for ``spec``: a pod, or a subprocess when local."""
    if local is None:
        return _pod_task(spec, env, task_id=task_id)
    return ETLLocalOperator(
        task_id=task_id,
        command=list(local.pipeline_command),
        arguments=local.arguments(spec, EXECUTION_DATE_TEMPLATE),  # the pod's arguments
        cwd=local.cwd,
        execution_timeout=dt.timedelta(seconds=spec.active_deadline_seconds),
        retries=spec.retries,
        retry_delay=dt.timedelta(minutes=spec.retry_delay_minutes),
        retry_exponential_backoff=_retry_backoff(),
        max_retry_delay=MAX_RETRY_DELAY,
        do_xcom_push=False,
        outlets=[Asset(spec.asset_uri)],
    )


def _pod_task(spec: TransferSpec, env: str | None, *, task_id: str) -> Any:
    """The pod task running ``pipeline`` for ``spec`` (inside a ``with dag:`` block)."""
    pod = pod_spec(spec)
    (container,) = pod["containers"]
    return ETLPodOperator(
        task_id=task_id,
        name=f"etl-{spec.k8s_name}",
        namespace=spec.namespace,
        # The pod is the Jobs' pod (`pod_spec`): container, env, volumes, security
        # contexts, proxy sidecar, no service-account token. Not a templated field:
        # Airflow never renders (or shows rendered) anything in it.
        full_pod_spec=full_pod(pod),
        base_container_name=container["name"],
        image=container["image"],  # shown in the UI; the same as the pod's
        cmds=container["command"],
        arguments=container["args"],  # templated: the execution date
        # the operator's own default ("File") would replace the pod's policy
        termination_message_policy=container["terminationMessagePolicy"],
        labels=labels(spec, env),  # the same labels as the Jobs' pods
        # templated: the DAG run's id, read by the pod's $ETL_ORCHESTRATOR_RUN_ID
        annotations={AIRFLOW_RUN_ID_ANNOTATION: RUN_ID_TEMPLATE},
        active_deadline_seconds=spec.active_deadline_seconds,
        startup_timeout_seconds=STARTUP_TIMEOUT_SECONDS,
        execution_timeout=dt.timedelta(seconds=spec.active_deadline_seconds) + EXECUTION_MARGIN,
        get_logs=True,
        logging_interval=LOGGING_INTERVAL_SECONDS,  # deferrable mode: logs while running
        log_events_on_failure=True,
        on_finish_action="delete_succeeded_pod",
        retries=spec.retries,
        retry_delay=dt.timedelta(minutes=spec.retry_delay_minutes),
        retry_exponential_backoff=_retry_backoff(),
        max_retry_delay=MAX_RETRY_DELAY,
        do_xcom_push=False,
        outlets=[Asset(spec.asset_uri)],
    )


def build_dags(
    path: str | Path, env: str | None = None, *, local: LocalProfile | None = None
) -> dict[str, Any]:
    """Every transfer of a deployment file as ``{dag_id: DAG}``; with ``local``, tasks
    run ``pipeline`` in a subprocess of the worker instead of a pod.

    Raises:
        ConfigError: The file is unreadable or invalid (the message lists every problem),
            or names a transfer that the job sources next to the scheduler (the ``jobs``
            package, ``$ETL_JOBS_MODULES``; parsed, not imported) do not register. With
            no job source in sight the names are not checked.
    """
    specs = load_transfers(path, env)  # env None: $ETL_ENV, named as such in errors
    _require_registered(specs, str(path))
    env_name, _source = selected_environment(env)
    assets = {spec.name: spec.asset_uri for spec in specs}
    dags = {
        spec.name: build_dag(spec, env=env_name, assets=assets, local=local)
        for spec in specs
        if spec.group is None
    }
    groups: dict[str, list[TransferSpec]] = {}
    for spec in specs:
        if spec.group is not None:
            groups.setdefault(spec.group, []).append(spec)
    for name, members in groups.items():
        if name in dags:
            raise ConfigValidationError(
                str(path), [("transfers", f"group {name!r} has the name of a transfer's DAG")]
            )
        dags[name] = build_group_dag(name, members, env=env_name, assets=assets, local=local)
    return dags


def build_group_dag(
    name: str,
    members: list[TransferSpec],
    *,
    env: str | None = None,
    assets: Mapping[str, str] | None = None,
    local: LocalProfile | None = None,
) -> Any:
    """One DAG running several transfers in stage order: a task per transfer (its
    name), an ``EmptyOperator`` spacer ``stage_<n>_done`` between stages. The first
    member gives the schedule, dates and catchup."""
    lead = members[0]
    start = dt.datetime.combine(lead.start_date, dt.time(), tzinfo=TIMEZONE)
    dag_kwargs: dict[str, Any] = {}
    if lead.end_date is not None:
        dag_kwargs["end_date"] = dt.datetime.combine(lead.end_date, dt.time(), tzinfo=TIMEZONE)
    if not all(member.allow_parallel_windows for member in members):
        dag_kwargs["max_active_runs"] = 1
    dag = DAG(
        dag_id=name,
        schedule=_schedule(lead, assets or {}),
        start_date=start,
        catchup=lead.catchup,
        tags=sorted({*DEFAULT_TAGS, *(tag for member in members for tag in member.tags)}),
        doc_md="\n\n".join(describe(member, local) for member in members),
        default_args={"owner": OWNER},
        **dag_kwargs,
    )
    stages = sorted({member.stage for member in members})
    with dag:
        previous: Any = None
        for stage in stages:
            tasks = [
                _task(member, env, task_id=member.name, local=local)
                for member in members
                if member.stage == stage
            ]
            if previous is not None:
                previous >> tasks
            if stage != stages[-1]:
                spacer = EmptyOperator(task_id=f"stage_{stage}_done")
                tasks >> spacer
                previous = spacer
    return dag


__all__ = [
    "EXECUTION_DATE_TEMPLATE",
    "ETLLocalOperator",
    "ETLPodOperator",
    "build_dag",
    "build_dags",
    "build_group_dag",
    "describe",
    "job_docstring",
]
