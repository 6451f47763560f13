"""Pure functions that turn a `TransferSpec` into Kubernetes manifests (plain dicts).

Nothing here talks to a cluster or imports the kubernetes client: the output is the
JSON/YAML the API server accepts, built from typed config and unit-tested. The
launcher (`etl_framework.deploy.launcher`), the invoke tasks and the rendered examples in
``gke_deploy/`` all use these functions.

What every Job gets:

* the ``pipeline`` container as a non-root user (uid `RUN_AS_USER`) with a read-only root
  filesystem (emptyDirs for ``/tmp`` and the working directory's ``.etl``), no privilege
  escalation, every capability dropped and the runtime's default seccomp profile; no
  service-account token (``automountServiceAccountToken: false``);
* the image by digest or by an immutable tag (pulled ``IfNotPresent``); ``latest`` is
  refused by `TransferSpec`, any other mutable tag (``dev``) is pulled ``Always``;
* the credentials Secret (if the spec names one) mounted read-only at
  `CREDENTIALS_MOUNT_PATH`; plain env vars from the spec and ``secretKeyRef`` references
  rendered as ``valueFrom.secretKeyRef`` (no secret value ever appears in a manifest);
* optionally the Cloud SQL Auth Proxy as a native sidecar (an init container with
  ``restartPolicy: Always``), so the Job completes when ``pipeline`` exits; its health
  endpoint listens on loopback only and is probed with the proxy's own ``wait``;
* a ``podFailurePolicy`` keyed off ``pipeline``'s exit codes (see `pod_failure_policy`),
  ``backoffLimit``, ``activeDeadlineSeconds`` and ``ttlSecondsAfterFinished``;
* ``terminationMessagePolicy: FallbackToLogsOnError``: the run summary the job writes to
  ``/dev/termination-log`` (`etl_framework.termination`) shows in ``kubectl describe``,
  and the tail of the log when the process died before writing it.

Backfills are one Indexed Job (`build_backfill_job`): completion index *i* runs the
ordinary ``pipeline START+i NAME delta CONFIG`` (see `execution_date_from_index`); a
truncate transfer is refused unless delta is asked for explicitly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from etl_framework.deploy.spec import (
    CREDENTIALS_MOUNT_PATH,
    SqlProxy,
    TransferSpec,
    checked_literals,
)
from etl_framework.exceptions import ConfigError, ExitCode, InvalidWindowError
from etl_framework.window import WriteMode, format_date, parse_date

Manifest = dict[str, Any]

CONTAINER_NAME = "pipeline"
"""Name of the job container; ``podFailurePolicy`` rules and log streaming refer to it."""
PIPELINE_COMMAND = ("pipeline",)
"""The job container's command: the ``pipeline`` entry point (the image's ENTRYPOINT too)."""
SQL_PROXY_CONTAINER_NAME = "cloud-sql-proxy"
RUN_AS_USER = 10001
"""The image's numeric non-root user and group (see the Dockerfile)."""
WORKDIR = "/app"
"""The image's working directory; ``.etl/`` under it is an emptyDir in a pod."""
TMP_SIZE_LIMIT = "1Gi"
SQL_PROXY_HTTP_PORT = 9090
SQL_PROXY_HTTP_ADDRESS = "127.0.0.1"
"""The proxy's health endpoint listens on the pod's loopback only."""
SQL_PROXY_BINARY = "/cloud-sql-proxy"
"""The proxy binary in its image (the entrypoint of gcr.io/cloud-sql-connectors/cloud-sql-proxy)."""
SQL_PROXY_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"memory": "256Mi"},
}

LABEL_PREFIX = "etl-framework.io"
BACKFILL_START_ENV = "ETL_BACKFILL_START"
"""Env var holding the first day (YYYYMMDD) of an Indexed backfill Job."""
BACKFILL_DAYS_ENV = "ETL_BACKFILL_DAYS"
"""Env var holding the days (YYYYMMDD, comma-separated) of a backfill of non-consecutive
days (``etlctl backfill --only-missing --k8s``): completion index *i* runs the *i*-th."""
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
"""Set by Kubernetes in every pod of an Indexed Job."""
ENVIRONMENTS = ("dev", "prod")

ORCHESTRATOR_RUN_ID_ENV = "ETL_ORCHESTRATOR_RUN_ID"
"""The run id of whatever started the pod, recorded in the ledger's ``orchestrator_run_id``
(`etl_framework.runner.ENV_ORCHESTRATOR_RUN_ID`). Every pod gets it from the downward API;
only the field it reads differs (`JOB_RUN_ID_FIELD`, `AIRFLOW_RUN_ID_FIELD`)."""
JOB_RUN_ID_FIELD = "metadata.labels['batch.kubernetes.io/job-name']"
"""A Job's pods: the Job's name (the label the Job controller sets on its pods)."""
AIRFLOW_RUN_ID_ANNOTATION = f"{LABEL_PREFIX}/orchestrator-run-id"
"""The pod annotation the DAG's task sets to ``{{ run_id }}`` (the operator's templated
``annotations``). Not KubernetesPodOperator's own ``run_id`` label: label values cannot
hold ``:`` or ``+``, so the operator stores a run id such as
``manual__2024-01-15T00:00:00+00:00`` shortened and hashed, no longer Airflow's id."""
AIRFLOW_RUN_ID_FIELD = f"metadata.annotations['{AIRFLOW_RUN_ID_ANNOTATION}']"

# podFailurePolicy: which pipeline exit codes end the Job at once, which are retried.
FAIL_AT_ONCE_EXIT_CODES = tuple(int(c) for c in (ExitCode.FAILED, ExitCode.USAGE, ExitCode.CONFIG))
"""1 job failed (terminal by contract), 2 usage error, 3 config error: a retry repeats it."""
RETRY_EXIT_CODES = tuple(int(c) for c in (ExitCode.LEASE_HELD, ExitCode.TRANSIENT))
"""4 another run holds the lease, 75 transient: retried, counted against backoffLimit."""

_NAME_BUDGET = 52
_NAME_HASH_LENGTH = 6


def execution_date_from_index(start: str | dt.date, index: int | str) -> str:
    """The execution date (YYYYMMDD) of completion index ``index`` of a backfill.

    Index 0 is ``start``, index 1 the day after, and so on.

    Raises:
        InvalidDateError: ``start`` is not a date.
        InvalidWindowError: ``index`` is not a non-negative integer.
    """
    first = parse_date(start, param=BACKFILL_START_ENV)
    try:
        offset = int(index)
    except (TypeError, ValueError) as exc:
        raise InvalidWindowError(f"{COMPLETION_INDEX_ENV}={index!r} is not an integer") from exc
    if offset < 0:
        raise InvalidWindowError(f"{COMPLETION_INDEX_ENV}={offset} is negative")
    return format_date(first + dt.timedelta(days=offset))


def execution_date_from_list(days: str, index: int | str) -> str:
    """The execution date (YYYYMMDD) of completion index ``index`` of a backfill of the
    listed ``days`` (`BACKFILL_DAYS_ENV`: comma-separated YYYYMMDD).

    Raises:
        InvalidDateError: A listed day is not a date.
        InvalidWindowError: ``index`` is not an integer in range of the list.
    """
    listed = [d.strip() for d in days.split(",") if d.strip()]
    try:
        offset = int(index)
    except (TypeError, ValueError) as exc:
        raise InvalidWindowError(f"{COMPLETION_INDEX_ENV}={index!r} is not an integer") from exc
    if not 0 <= offset < len(listed):
        raise InvalidWindowError(
            f"{COMPLETION_INDEX_ENV}={offset} is outside the {len(listed)} days"
            f" of {BACKFILL_DAYS_ENV}"
        )
    return format_date(parse_date(listed[offset], param=BACKFILL_DAYS_ENV))


def job_name(
    spec: TransferSpec, execution_date: str, *, kind: str = "", suffix: str | None = None
) -> str:
    """Job name ``etl-<transfer>-<date>[-<kind>][-<suffix>]``, a DNS label of <= 52 chars.

    52 leaves room for the pod names Kubernetes derives from it (``-<index>-xxxxx``).
    A transfer name too long to fit is cut and followed by a hash of the whole name
    (`_NAME_HASH_LENGTH` hex digits), so transfers sharing a long prefix still get
    distinct names. The launcher adds a random ``suffix`` so reruns never collide;
    rendered manifests have none (a second ``kubectl create`` of the same day fails
    instead of duplicating).
    """
    tail = f"-{execution_date}" + (f"-{kind}" if kind else "") + (f"-{suffix}" if suffix else "")
    head = "etl-" + spec.k8s_name
    room = _NAME_BUDGET - len(tail)
    if len(head) > room:
        digest = hashlib.sha256(spec.name.encode()).hexdigest()[:_NAME_HASH_LENGTH]
        head = head[: room - len(digest) - 1].rstrip("-") + "-" + digest
    return head + tail


def random_suffix() -> str:
    """A short random Job name suffix, so launching the same day twice never collides."""
    return uuid.uuid4().hex[:5]


def labels(spec: TransferSpec, env: str | None) -> dict[str, str]:
    """Labels on the Job and its pods (selectors for kubectl and the launcher)."""
    transfer = spec.k8s_name[:63].rstrip("-")  # label values: at most 63 characters
    out = {
        "app.kubernetes.io/name": "etl-framework",
        "app.kubernetes.io/component": "transfer",
        "app.kubernetes.io/instance": transfer,
        f"{LABEL_PREFIX}/transfer": transfer,
    }
    if env:
        out[f"{LABEL_PREFIX}/env"] = env
    return out


def pod_failure_policy(*, indexed: bool = False) -> dict[str, Any]:
    """How the Job treats a failed pod, keyed off ``pipeline``'s exit code.

    * a pod killed by a disruption (node drain, preemption, kubelet eviction: condition
      ``DisruptionTarget``) is ignored: retried without using up ``backoffLimit``;
    * exit codes `FAIL_AT_ONCE_EXIT_CODES` (1, 2, 3) fail the Job at once (an Indexed Job:
      that index, ``FailIndex``): the same input fails the same way again;
    * exit codes `RETRY_EXIT_CODES` (4 lease held, 75 transient) and everything else
      (e.g. 137 OOMKilled) count against ``backoffLimit`` and are retried.
    """
    fail = "FailIndex" if indexed else "FailJob"
    return {
        "rules": [
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
            {
                "action": fail,
                "onExitCodes": {
                    "containerName": CONTAINER_NAME,
                    "operator": "In",
                    "values": list(FAIL_AT_ONCE_EXIT_CODES),
                },
            },
            {
                "action": "Count",
                "onExitCodes": {
                    "containerName": CONTAINER_NAME,
                    "operator": "In",
                    "values": list(RETRY_EXIT_CODES),
                },
            },
        ]
    }


def _container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _resources(resources: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    return {kind: dict(values) for kind, values in resources.items() if values}


def resolve_sql_proxy(spec: TransferSpec, sql_proxy: SqlProxy | bool | None) -> SqlProxy | None:
    """The proxy to run: None = as the spec says, True = the spec's (required), False = none.

    Raises:
        ConfigError: ``True`` but the spec configures no ``sql_proxy``.
    """
    if isinstance(sql_proxy, SqlProxy):
        return sql_proxy
    if sql_proxy is None:
        return spec.sql_proxy
    if not sql_proxy:
        return None
    if spec.sql_proxy is None:
        raise ConfigError(
            f"transfer {spec.name!r} has no sql_proxy in the transfers file: set"
            " sql_proxy.instance (project:region:instance) to run the Cloud SQL Auth Proxy"
        )
    return spec.sql_proxy


def _env(
    spec: TransferSpec, proxy: SqlProxy | None, extra: Mapping[str, str], run_id_field: str
) -> list[dict[str, Any]]:
    plain = {"HOME": "/tmp", "TMPDIR": "/tmp", "ETL_IMAGE_TAG": spec.image_ref}
    if spec.credentials_path is not None:
        plain["GOOGLE_APPLICATION_CREDENTIALS"] = spec.credentials_path
    if proxy is not None:
        plain["ETL_SQL_PROXY_HOST"] = "127.0.0.1"
        plain["ETL_SQL_PROXY_PORT"] = str(proxy.port)
    plain.update(spec.plain_env())
    plain.update(extra)
    plain = checked_literals(plain, spec.name)  # a secret is never a literal
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(plain.items())]
    for name, ref in sorted(spec.secret_env().items()):
        env.append(
            {
                "name": name,
                "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}},
            }
        )
    if not any(item["name"] == ORCHESTRATOR_RUN_ID_ENV for item in env):  # the spec's wins
        env.append(
            {
                "name": ORCHESTRATOR_RUN_ID_ENV,
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": run_id_field}},
            }
        )
    return env


def sql_proxy_args(proxy: SqlProxy) -> list[str]:
    """The Cloud SQL Auth Proxy's arguments.

    Its health endpoint (`SQL_PROXY_HTTP_ADDRESS`:`SQL_PROXY_HTTP_PORT`) listens on the
    pod's loopback only, like its database port: nothing outside the pod reaches it.
    """
    return [
        "--structured-logs",
        f"--port={proxy.port}",
        "--health-check",
        f"--http-address={SQL_PROXY_HTTP_ADDRESS}",
        f"--http-port={SQL_PROXY_HTTP_PORT}",
        proxy.instance,
    ]


def sql_proxy_probe_command(max_wait: str = "1s") -> list[str]:
    """An exec probe: the proxy's own ``wait`` asks its ``/startup`` endpoint on loopback.

    The kubelet's ``httpGet`` probes connect to the pod IP, which a loopback-only
    endpoint does not answer; the proxy image is distroless, so its binary is the
    only client there is.
    """
    return [
        SQL_PROXY_BINARY,
        "wait",
        f"--http-address={SQL_PROXY_HTTP_ADDRESS}",
        f"--http-port={SQL_PROXY_HTTP_PORT}",
        f"--max={max_wait}",
    ]


def _sql_proxy_container(spec: TransferSpec, proxy: SqlProxy) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": SQL_PROXY_CONTAINER_NAME,
        "image": proxy.image,
        # A native sidecar: starts before `pipeline`, keeps running beside it and is
        # stopped by the kubelet once `pipeline` has exited, so the Job can complete.
        "restartPolicy": "Always",
        "args": sql_proxy_args(proxy),
        "startupProbe": {
            "exec": {"command": sql_proxy_probe_command()},
            "periodSeconds": 1,
            "timeoutSeconds": 3,
            "failureThreshold": 60,
        },
        "livenessProbe": {
            "exec": {"command": sql_proxy_probe_command()},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": _resources(SQL_PROXY_RESOURCES),
        "securityContext": _container_security_context(),
    }
    if spec.credentials_path is not None:
        key_file = spec.plain_env().get("GOOGLE_APPLICATION_CREDENTIALS", spec.credentials_path)
        container["env"] = [{"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": key_file}]
        container["volumeMounts"] = [
            {"name": "credentials", "mountPath": CREDENTIALS_MOUNT_PATH, "readOnly": True}
        ]
    return container


def build_pod_spec(
    spec: TransferSpec,
    args: Sequence[str],
    *,
    command: Sequence[str] = PIPELINE_COMMAND,
    sql_proxy: SqlProxy | bool | None = None,
    extra_env: Mapping[str, str] | None = None,
    run_id_field: str = JOB_RUN_ID_FIELD,
) -> dict[str, Any]:
    """The pod spec of a transfer run: ``pipeline`` (+ proxy sidecar), volumes, security.

    The one pod of every way a transfer runs elsewhere: the Job and the Indexed backfill
    Job embed it, and the Airflow DAG (`etl_framework.deploy.airflow`) converts it to the
    KubernetesPodOperator's ``full_pod_spec``, so a change here changes all of them.

    Args:
        spec: The merged transfer spec.
        args: Arguments of the container (``pipeline``'s, see `TransferSpec.pipeline_args`;
            the DAG passes its execution date as a template).
        command: The container's command (`PIPELINE_COMMAND`; a backfill runs ``exec-index``).
        sql_proxy: See `resolve_sql_proxy`.
        extra_env: More plain env vars (win over the spec's).
        run_id_field: The pod field (downward API) ``$ETL_ORCHESTRATOR_RUN_ID`` is read
            from: the Job's name (`JOB_RUN_ID_FIELD`) or the DAG run's id
            (`AIRFLOW_RUN_ID_FIELD`). The only difference between a Job's pod and the DAG's.
    """
    proxy = resolve_sql_proxy(spec, sql_proxy)
    mounts: list[dict[str, Any]] = [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "state", "mountPath": f"{WORKDIR}/.etl"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
        {"name": "state", "emptyDir": {}},
    ]
    if spec.credentials_secret:
        mounts.append(
            {"name": "credentials", "mountPath": CREDENTIALS_MOUNT_PATH, "readOnly": True}
        )
        volumes.append(
            {
                "name": "credentials",
                # 0440 + fsGroup: readable by the job's group only, never writable.
                "secret": {"secretName": spec.credentials_secret, "defaultMode": 0o440},
            }
        )
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": spec.image_ref,
        "imagePullPolicy": spec.image_pull_policy,
        "command": list(command),
        "args": list(args),
        "workingDir": WORKDIR,
        "env": _env(spec, proxy, extra_env or {}, run_id_field),
        "resources": _resources(spec.resources.model_dump()),
        "securityContext": _container_security_context(),
        "volumeMounts": mounts,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",  # retries belong to the Job (podFailurePolicy needs Never)
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # `pipeline` never calls the Kubernetes API: no API token in the pod (Workload
        # Identity does not need one either; the GKE metadata server answers for the pod)
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": volumes,
    }
    if spec.service_account:
        pod["serviceAccountName"] = spec.service_account
    if proxy is not None:
        pod["initContainers"] = [_sql_proxy_container(spec, proxy)]
    return pod


def _job(
    spec: TransferSpec,
    *,
    name: str,
    env: str | None,
    pod_spec: dict[str, Any],
    annotations: Mapping[str, str],
    job_spec: Mapping[str, Any],
) -> Manifest:
    meta_labels = labels(spec, env)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": spec.namespace,
            "labels": meta_labels,
            "annotations": {f"{LABEL_PREFIX}/transfer-name": spec.name, **annotations},
        },
        "spec": {
            **job_spec,
            "ttlSecondsAfterFinished": spec.ttl_seconds_after_finished,
            "template": {
                "metadata": {"labels": dict(meta_labels)},
                "spec": pod_spec,
            },
        },
    }


def build_job(
    spec: TransferSpec,
    execution_date: str | dt.date,
    *,
    delta_start_date: str | dt.date | None = None,
    env: str | None = None,
    sql_proxy: SqlProxy | bool | None = None,
    name_suffix: str | None = None,
) -> Manifest:
    """A batch/v1 Job that runs one ``pipeline`` invocation of a transfer.

    Args:
        spec: The merged transfer spec (`etl_framework.deploy.spec.get_transfer`).
        execution_date: EXECUTION_DATE of the run.
        delta_start_date: ``--delta_start_date`` (delta mode only).
        env: Environment name, recorded as a label (the spec already has its overlay).
        sql_proxy: See `resolve_sql_proxy`.
        name_suffix: Appended to the Job name (see `job_name`).

    Raises:
        InvalidDateError: A date does not parse.
        InvalidWindowError: ``delta_start_date`` with a truncate transfer, or after the
            execution date.
        ConfigError: ``sql_proxy=True`` without a configured proxy.
    """
    day = format_date(parse_date(execution_date, param="execution_date"))
    start: str | None = None
    if delta_start_date is not None:
        if spec.mode is not WriteMode.DELTA:
            raise InvalidWindowError(
                f"--delta_start_date needs a delta transfer; {spec.name!r} runs {spec.mode.value}"
            )
        start_day = parse_date(delta_start_date, param="delta_start_date")
        if start_day > parse_date(day):
            raise InvalidWindowError(
                f"delta_start_date {format_date(start_day)} is after execution date {day}"
            )
        start = format_date(start_day)
    annotations = {f"{LABEL_PREFIX}/execution-date": day, f"{LABEL_PREFIX}/mode": spec.mode.value}
    if start:
        annotations[f"{LABEL_PREFIX}/delta-start-date"] = start
    return _job(
        spec,
        name=job_name(spec, day, suffix=name_suffix),
        env=env,
        pod_spec=build_pod_spec(spec, spec.pipeline_args(day, start), sql_proxy=sql_proxy),
        annotations=annotations,
        job_spec={
            "backoffLimit": spec.backoff_limit,
            "activeDeadlineSeconds": spec.active_deadline_seconds,
            "podFailurePolicy": pod_failure_policy(),
        },
    )


def _check_backfill_mode(spec: TransferSpec, mode: WriteMode | None = None) -> None:
    """Refuse a backfill that would run a truncate transfer as delta windows unasked.

    Raises:
        ConfigError: ``mode`` is not delta, or is None and the spec's mode is truncate.
    """
    if mode is None and spec.mode is WriteMode.TRUNCATE:
        raise ConfigError(
            f"transfer {spec.name!r} runs truncate, but a backfill replays one delta window"
            f" per day (pipeline DAY {spec.name} delta CONFIG): run a single truncate"
            " instead (local-deploy-gke), or pass --mode delta (mode=WriteMode.DELTA) if"
            " its job supports delta windows"
        )
    if mode is not None and mode is not WriteMode.DELTA:
        raise ConfigError(f"a backfill runs delta windows only; got mode {mode.value!r}")


def build_backfill_job(
    spec: TransferSpec,
    start: str | dt.date,
    end: str | dt.date,
    *,
    parallelism: int = 2,
    env: str | None = None,
    sql_proxy: SqlProxy | bool | None = None,
    name_suffix: str | None = None,
    mode: WriteMode | None = None,
    days: Sequence[dt.date] | None = None,
) -> Manifest:
    """An Indexed Job that runs ``pipeline DAY NAME delta CONFIG`` for each day in [start, end].

    A backfill replays delta windows, so it needs a delta transfer. A transfer whose
    spec says truncate is refused unless ``mode=WriteMode.DELTA`` says explicitly that
    its job can also run day-by-day delta windows (``--mode delta`` on the command line).

    Completion index *i* is day ``start + i``: the pod runs
    ``python3 -m etl_framework.deploy exec-index -- NAME delta CONFIG``, which computes the day
    from ``$ETL_BACKFILL_START`` and ``$JOB_COMPLETION_INDEX`` (`execution_date_from_index`)
    and execs the ordinary ``pipeline`` (same exit codes, same lease per window). Each day
    has its own retry budget (``backoffLimitPerIndex``); a day failing with exit code 1-3
    fails only that index, the others still run.

    ``days`` (optional, within [start, end]) backfills only those days (``etlctl backfill
    --only-missing --k8s``): one completion per listed day. When they are not all the
    days of [start, end], the pod also gets ``$ETL_BACKFILL_DAYS`` (the list) and index *i*
    runs the *i*-th listed day (`execution_date_from_list`), so gaps need one Job, not one
    per run of consecutive days.

    Raises:
        InvalidDateError: A date does not parse.
        InvalidWindowError: ``end`` before ``start`` or ``parallelism`` < 1.
        ConfigError: A truncate transfer without ``mode=WriteMode.DELTA``, or any other mode.
    """
    _check_backfill_mode(spec, mode)
    first = parse_date(start, param="start")
    last = parse_date(end, param="end")
    if last < first:
        raise InvalidWindowError(
            f"backfill end {format_date(last)} is before start {format_date(first)}"
        )
    if parallelism < 1:
        raise InvalidWindowError(f"parallelism must be at least 1, got {parallelism}")
    count = (last - first).days + 1
    pod_env = {BACKFILL_START_ENV: format_date(first)}
    if days is not None:
        chosen = sorted(set(days))
        if not chosen:
            raise InvalidWindowError("a backfill needs at least one day")
        outside = [format_date(d) for d in chosen if not first <= d <= last]
        if outside:
            raise InvalidWindowError(
                f"backfill days {', '.join(outside)} are outside"
                f" {format_date(first)}..{format_date(last)}"
            )
        if len(chosen) != count:  # gaps: the pod picks its day from the list
            pod_env[BACKFILL_DAYS_ENV] = ",".join(format_date(d) for d in chosen)
            count = len(chosen)
    parallel = min(parallelism, count)
    args = ["--", spec.name, WriteMode.DELTA.value, spec.config]
    pod_spec = build_pod_spec(
        spec,
        args,
        command=["python3", "-m", "etl_framework.deploy", "exec-index"],
        sql_proxy=sql_proxy,
        extra_env=pod_env,
    )
    waves = math.ceil(count / parallel) * (spec.backoff_limit + 1)
    return _job(
        spec,
        name=job_name(spec, format_date(first), kind="backfill", suffix=name_suffix),
        env=env,
        pod_spec=pod_spec,
        annotations={
            f"{LABEL_PREFIX}/backfill-start": format_date(first),
            f"{LABEL_PREFIX}/backfill-end": format_date(last),
            f"{LABEL_PREFIX}/mode": WriteMode.DELTA.value,
        },
        job_spec={
            "completionMode": "Indexed",
            "completions": count,
            "parallelism": parallel,
            "backoffLimitPerIndex": spec.backoff_limit,
            # the whole backfill gets one deadline per wave of runs, retries included
            "activeDeadlineSeconds": spec.active_deadline_seconds * waves,
            "podFailurePolicy": pod_failure_policy(indexed=True),
        },
    )


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(*manifests: Manifest) -> str:
    """Manifests as one YAML stream (``---`` separated), keys in the order built."""
    return "---\n".join(
        yaml.dump(m, Dumper=_NoAliasDumper, sort_keys=False, default_flow_style=False, width=100)
        for m in manifests
    )


def rendered_name(transfer: str, env: str, variant: str = "") -> str:
    """File name of a rendered example under ``gke_deploy/manifests/``."""
    stem = re.sub(r"[^a-z0-9]+", "-", transfer.lower()).strip("-")
    return f"{env}/{stem}{'-' + variant if variant else ''}.yaml"


EXAMPLE_DATE = "20240115"
EXAMPLE_BACKFILL = ("20240101", "20240107", 3)
EXAMPLE_SQL_PROXY = SqlProxy(instance="my-project:europe-west2:etl-state")
"""Stand-in instance for the rendered proxy example when the transfer configures none."""


def render_examples(specs_by_env: Mapping[str, Sequence[TransferSpec]]) -> dict[str, str]:
    """The example manifests committed under ``gke_deploy/manifests/``: path -> YAML.

    For each environment and transfer: the daily Job, the same with the Cloud SQL Auth
    Proxy sidecar, and (delta transfers) a one-week Indexed backfill.
    """
    out: dict[str, str] = {}
    for env, specs in specs_by_env.items():
        for spec in specs:
            header = (
                f"# Generated from gke_deploy/transfers.yaml (env {env}) by"
                " `invoke render-manifests`; do not edit.\n"
                "# Submit with: kubectl create -f <this file>\n"
            )
            proxy = spec.sql_proxy or EXAMPLE_SQL_PROXY
            start, end, parallelism = EXAMPLE_BACKFILL
            variants = {
                "": build_job(spec, EXAMPLE_DATE, env=env, sql_proxy=False),
                "sql-proxy": build_job(spec, EXAMPLE_DATE, env=env, sql_proxy=proxy),
            }
            if spec.mode is WriteMode.DELTA:  # truncate transfers are not backfilled
                variants["backfill"] = build_backfill_job(
                    spec, start, end, parallelism=parallelism, env=env, sql_proxy=False
                )
            for variant, manifest in variants.items():
                out[rendered_name(spec.name, env, variant)] = header + to_yaml(manifest)
    return out
