"""Runs inside .venv-airflow (real Airflow); prints one JSON document on stdout.

Called by tests/integration/airflow/test_dags.py, which runs in the project's main venv:

    python airflow_checker.py dagbag DAG_FOLDER
    python airflow_checker.py render DAG_FOLDER DAG_ID RUN_AFTER
    python airflow_checker.py render-without-interval DAG_FOLDER DAG_ID RUN_AFTER
    python airflow_checker.py exit-codes DAG_FOLDER DAG_ID
    python airflow_checker.py render-all DAG_FOLDER RUN_AFTER
    python airflow_checker.py assets DAG_FOLDER
    python airflow_checker.py local-exit-codes DAG_FOLDER DAG_ID RUN_AFTER OUT_FILE
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

# Run as a script, this file's folder (tests/support/) is sys.path[0]: drop it so the
# helper modules beside it (bigquery.py, pipeline.py, ...) cannot shadow real ones.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]


def _jsonable(value: Any) -> Any:
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(value)


def _dagbag(folder: str) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag

    return DagBag(dag_folder=folder)


def _task_summary(task: Any) -> dict[str, Any]:
    return {
        "task_type": type(task).__name__,
        "retries": task.retries,
        "retry_delay_seconds": task.retry_delay.total_seconds(),
        "retry_exponential_backoff": float(task.retry_exponential_backoff),
        "max_retry_delay_seconds": task.max_retry_delay.total_seconds(),
        "execution_timeout_seconds": task.execution_timeout.total_seconds(),
        "get_logs": task.get_logs,
        "log_events_on_failure": task.log_events_on_failure,
        "termination_message_policy": task.termination_message_policy,
        "on_finish_action": task.on_finish_action.value,
        "skip_on_exit_code": list(task.skip_on_exit_code),
        "no_retry_exit_codes": sorted(task.no_retry_exit_codes),
        "cmds": task.cmds,
        "arguments": task.arguments,
        "image": task.image,
        "namespace": task.namespace,
        "service_account_name": task.service_account_name,
        "active_deadline_seconds": task.active_deadline_seconds,
        "template_fields": list(task.template_fields),
    }


def dagbag(folder: str) -> dict[str, Any]:
    bag = _dagbag(folder)
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "timetable": type(dag.timetable).__name__,
            "schedule": _core_timetable(dag.timetable).summary,
            "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup,
            "tags": sorted(dag.tags),
            "start_date": dag.start_date.isoformat(),
            "doc_md": dag.doc_md,
            "tasks": {task.task_id: _task_summary(task) for task in dag.tasks},
        }
    return {
        "dag_ids": sorted(bag.dag_ids),
        "import_errors": {str(k): v for k, v in bag.import_errors.items()},
        "captured_warnings": {str(k): list(v) for k, v in bag.captured_warnings.items()},
        "dags": dags,
    }


def _core_timetable(timetable: Any) -> Any:
    try:  # Airflow 3: DAGs hold SDK timetables; the scheduling logic is in core's twin
        from airflow.serialization.encoders import coerce_to_core_timetable
    except ImportError:  # Airflow 2
        return timetable
    return coerce_to_core_timetable(timetable)


def _manual_run(
    folder: str, dag_id: str, run_after: str, run_id: str
) -> tuple[Any, Any, dict[str, Any]]:
    """The one task of DAG ``dag_id``, the data interval of a manual run at
    ``run_after`` and the template context of that run."""
    import pendulum

    dag = _dagbag(folder).dags[dag_id]
    (task,) = dag.tasks
    timetable = _core_timetable(dag.timetable)
    interval = timetable.infer_manual_data_interval(run_after=pendulum.parse(run_after))
    context = {
        "dag": dag,
        "task": task,
        "run_id": run_id,
        "data_interval_start": interval.start,
        "data_interval_end": interval.end,
        "logical_date": interval.start,
    }
    return task, interval, context


def render(folder: str, dag_id: str, run_after: str) -> dict[str, Any]:
    task, interval, context = _manual_run(folder, dag_id, run_after, "manual__test")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        task.render_template_fields(context)
        pod = task.build_pod_request_obj(dry_run=True)
    return {
        "interval": [interval.start.isoformat(), interval.end.isoformat()],
        "cmds": task.cmds,
        "arguments": task.arguments,
        "rendered": {name: _jsonable(getattr(task, name)) for name in task.template_fields},
        "pod": _jsonable(pod),
    }


class _ManualRun:
    """The ``dag_run`` of an Airflow 3 run triggered without a logical date."""

    def __init__(self, run_after: Any) -> None:
        self.run_after = run_after
        self.logical_date = None
        self.data_interval_start = None
        self.data_interval_end = None


def render_without_interval(folder: str, dag_id: str, run_after: str) -> dict[str, Any]:
    """Render like the Airflow 3 task runner does for a run with no logical date.

    Its context has no ``logical_date``, ``ds`` or ``data_interval_*`` keys at all
    (``airflow.sdk.execution_time.task_runner``), only ``dag_run.run_after``.
    """
    return _render_manual(_dagbag(folder).dags[dag_id], run_after)


def _render_manual(dag: Any, run_after: str) -> dict[str, Any]:
    import pendulum

    (task,) = dag.tasks
    context = {
        "dag": dag,
        "task": task,
        "run_id": "manual__no_logical_date",
        "dag_run": _ManualRun(pendulum.parse(run_after)),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        task.render_template_fields(context)
        pod = task.build_pod_request_obj(dry_run=True)
    return {"cmds": task.cmds, "arguments": task.arguments, "pod": _jsonable(pod)}


def render_all(folder: str, run_after: str) -> dict[str, Any]:
    """Every DAG's pod for a manual run on the day of RUN_AFTER, after a round trip
    through the DAG serializer the scheduler uses (which must accept the operator)."""
    try:
        from airflow.serialization.serialized_objects import DagSerialization as serializer
    except ImportError:  # Airflow 2
        from airflow.serialization.serialized_objects import SerializedDAG as serializer

    bag = _dagbag(folder)
    pods = {}
    for dag_id, dag in bag.dags.items():
        serializer.from_dict(serializer.to_dict(dag))
        pods[dag_id] = _render_manual(dag, run_after)["pod"]
    return {"import_errors": {str(k): v for k, v in bag.import_errors.items()}, "pods": pods}


class _NoCluster:
    """Stands in for the Kubernetes API: serves one finished pod, accepts patch and delete."""

    def __init__(self) -> None:
        self.pod: Any = None

    def read_namespaced_pod(self, *args: Any, **kwargs: Any) -> Any:
        return self.pod

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def exit_codes(folder: str, dag_id: str) -> dict[str, Any]:
    """Feed finished pods with given exit codes to the real cleanup(): how does the task end?"""
    from kubernetes.client import models as k8s

    bag = _dagbag(folder)
    (task,) = bag.dags[dag_id].tasks
    cluster = _NoCluster()
    task.__dict__["client"] = cluster  # a cached_property: there is no cluster here
    pod = task.build_pod_request_obj(dry_run=True)
    outcome = {}
    for case in ("0", "1", "1-disrupted", "2", "3", "4", "75", "137"):
        code = int(case.split("-")[0])
        phase = "Succeeded" if code == 0 else "Failed"
        conditions = None
        if case.endswith("-disrupted"):  # e.g. a node drain: SIGTERM, pipeline exits 1
            conditions = [k8s.V1PodCondition(type="DisruptionTarget", status="True")]
        terminated = k8s.V1ContainerStateTerminated(exit_code=code, reason="Error")
        status = k8s.V1ContainerStatus(
            name=task.base_container_name,
            image=task.image,
            image_id="",
            ready=False,
            restart_count=0,
            state=k8s.V1ContainerState(terminated=terminated),
        )
        remote = k8s.V1Pod(
            metadata=pod.metadata,
            spec=pod.spec,
            status=k8s.V1PodStatus(phase=phase, container_statuses=[status], conditions=conditions),
        )
        cluster.pod = remote
        try:
            task.cleanup(pod, remote)
        except Exception as exc:  # the class of the error is the answer
            outcome[case] = type(exc).__name__
        else:
            outcome[case] = "ok"
    return outcome


def local_exit_codes(folder: str, dag_id: str, run_after: str, out_file: str) -> dict[str, Any]:
    """Run the local profile's task (its command a fake ``pipeline`` that records its argv
    and env in OUT_FILE, then exits with $CHECK_EXIT): how does the task end per code?"""
    task, _interval, context = _manual_run(folder, dag_id, run_after, "manual__local_check")
    task.render_template_fields(context)
    outcome = {}
    seen = {}
    for code in (0, 1, 2, 3, 4, 75, 137):
        os.environ["CHECK_EXIT"] = str(code)
        try:
            task.execute(context)
        except Exception as exc:  # the class of the error is the answer
            outcome[str(code)] = [type(exc).__name__, str(exc)]
        else:
            outcome[str(code)] = ["ok", ""]
        with open(out_file, encoding="utf-8") as file:
            seen = json.load(file)
    return {
        "task_type": type(task).__name__,
        "retries": task.retries,
        "command": task.command,
        "arguments": task.arguments,
        "cwd": task.cwd,
        "outcome": outcome,
        "child": seen,
    }


def assets(folder: str) -> dict[str, Any]:
    """Per DAG, after a serialization round trip (what the scheduler sees): the task
    order, each task's outlet URIs and the asset URIs the schedule waits for."""
    try:  # Airflow 3.3
        from airflow.serialization.serialized_objects import DagSerialization as SerializedDAG
    except ImportError:
        from airflow.serialization.serialized_objects import SerializedDAG

    bag = _dagbag(folder)
    out: dict[str, Any] = {"import_errors": {str(k): v for k, v in bag.import_errors.items()}}
    for dag_id, live in bag.dags.items():
        dag = SerializedDAG.from_dict(SerializedDAG.to_dict(live))
        condition = getattr(dag.timetable, "asset_condition", None)
        waits = sorted(asset.uri for _key, asset in condition.iter_assets()) if condition else []
        out[dag_id] = {
            "timetable": type(dag.timetable).__name__,
            "summary": dag.timetable.summary,
            "schedule_assets": waits,
            "end_date": dag.end_date.isoformat() if dag.end_date else None,
            "catchup": dag.catchup,
            "tasks": {
                task.task_id: {
                    "outlets": sorted(o.uri for o in getattr(task, "outlets", [])),
                    "upstream": sorted(task.upstream_task_ids),
                    "arguments": getattr(task, "arguments", None),
                }
                for task in dag.tasks
            },
        }
    return out


COMMANDS = {
    "assets": assets,
    "dagbag": dagbag,
    "render": render,
    "render-without-interval": render_without_interval,
    "exit-codes": exit_codes,
    "render-all": render_all,
    "local-exit-codes": local_exit_codes,
}

if __name__ == "__main__":
    command, *args = sys.argv[1:]
    result = COMMANDS[command](*args)
    sys.stdout.write("\n" + "@@JSON@@" + json.dumps(result, default=str) + "\n")
