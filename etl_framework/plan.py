"""``pipeline ... --plan``: what a run would do, resolved and printed, touching nothing.

Everything comes from the validated `RunRequest` and read-only looks: at the ledger
(the catch-up window, whether upstream transfers covered the window) and at the SQL
target (does it exist, lack columns, hold rows: that decides the statements). No ledger
row, no lease, no connection that writes. Secrets are masked (``SecretStr`` fields dump
as ``**********``; registered secrets are redacted).

The statements come from the write strategy's own ``describe`` (the builders its run
executes; see `etl_framework.load.planned`); ``--k8s ENV`` adds the Job manifest
``python -m etl_framework.deploy render`` would print for the same run.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import BaseModel
from sqlalchemy.engine import make_url

from etl_framework import redaction
from etl_framework.exceptions import ConfigError, InvalidWindowError
from etl_framework.runner import RunRequest
from etl_framework.window import Window, WriteMode, format_date

ONE_DAY = dt.timedelta(days=1)
PLAN_WIDTH = 100_000
"""YAML line width: each SQL statement stays on one line (copied as is)."""


def _succeeded_spans(url: str, transfer: str) -> list[tuple[Any, Any, Any]] | None:
    """(window_start, window_end, execution_date) of the transfer's succeeded runs,
    read-only (None when there is no ledger yet)."""
    from etl_framework.report.ledger import ledger_connection, readonly_engine
    from etl_framework.state.models import Run
    from etl_framework.state.store import succeeded_spans

    try:
        engine = readonly_engine(url)
    except ConfigError as exc:
        if "no run ledger" in str(exc):
            return None
        raise
    try:
        with ledger_connection(engine) as conn:
            if not sa.inspect(conn).has_table(Run.__tablename__):
                return None
            return [tuple(row) for row in conn.execute(succeeded_spans(transfer)).all()]
    finally:
        engine.dispose()


def covered_until(url: str, transfer: str) -> dt.date | None:
    """`RunStore.covered_until`, read-only (None when there is no ledger yet)."""
    rows = _succeeded_spans(url, transfer) or []
    ends = [end or day + ONE_DAY for _start, end, day in rows]
    return max(ends) if ends else None


def planned_dependencies(request: RunRequest, window: Window) -> list[dict[str, Any]]:
    """Each upstream transfer and whether it covered the window the run needs (the
    runner's check, `RunStore.uncovered`, on a read-only ledger)."""
    from etl_framework.state.store import uncovered_part

    needed = request.job.dependency_window(request.execution_date, window)
    url = request.config.state.url.get_secret_value()
    out: list[dict[str, Any]] = []
    for upstream in request.depends_on:
        missing = uncovered_part(_succeeded_spans(url, upstream) or [], needed)
        entry: dict[str, Any] = {
            "transfer": upstream,
            "needs": str(needed),
            "covered": missing is None,
        }
        if missing is not None:
            entry["missing"] = str(missing)
            entry["run"] = (
                "runs anyway (--ignore-dependencies)"
                if request.ignore_dependencies
                else "would stop with exit 75 (upstream not ready), touching nothing"
            )
        out.append(entry)
    return out


def planned_window(request: RunRequest) -> Window:
    """The window `runner.execute` would run (catch-up included)."""
    start = request.delta_start_date
    job = request.job
    if request.mode is WriteMode.DELTA and start is None and job.catch_up:
        covered = covered_until(request.config.state.url.get_secret_value(), job.transfer_name)
        if covered is not None and covered <= request.execution_date:
            start = covered
    if start is not None and start > request.execution_date:
        raise InvalidWindowError(
            f"delta start date {format_date(start)} is after execution date "
            f"{format_date(request.execution_date)}"
        )
    return Window.for_run(request.mode, request.execution_date, start)


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _strategy(job: Any, mode: WriteMode) -> str:
    if mode is WriteMode.TRUNCATE:
        return "replace_table"
    return str(getattr(job, "delta_strategy", "the job's own (no declarative strategy)"))


def build_plan(request: RunRequest, k8s_env: str | None = None) -> dict[str, Any]:
    job = request.job
    config = request.config
    options = job.options_from(config)
    window = planned_window(request)
    exclusive = request.mode is WriteMode.TRUNCATE or not job.allow_parallel_windows
    state_url = make_url(config.state.url.get_secret_value())
    plan: dict[str, Any] = {
        "transfer": job.transfer_name,
        "job": f"{job.__module__}.{job.__qualname__}",
        "execution_date": format_date(request.execution_date),
        "mode": request.mode.value,
        "window": str(window),
        "strategy": _strategy(job, request.mode),
        "target": {
            "connection": getattr(job, "target_connection", None),
            "table": getattr(options, "table", None) or getattr(job, "target_table", None),
        },
        "lease": {
            "exclusive": exclusive,
            "targets": sorted(job.write_targets(config, options)),
        },
        "guards": _dump(getattr(options, "guards", None)),
        "depends_on": planned_dependencies(request, window),
        "ledger": state_url.render_as_string(hide_password=True),
        **planned_writes(request, window),
        "options": _dump(options),
        "config": config.model_dump(mode="json", exclude={"checksum"}),
    }
    if k8s_env is not None:
        plan["kubernetes_job"] = planned_job(request, k8s_env)
    return dict(redaction.redact_value(plan))


def planned_writes(request: RunRequest, window: Window) -> dict[str, Any]:
    """``staging`` and ``statements``: what the run's write strategy would execute."""
    from etl_framework.plan_statements import strategy_statements

    return strategy_statements(request, window)


def planned_job(request: RunRequest, env: str) -> dict[str, Any]:
    """The Job manifest ``python -m etl_framework.deploy render --env ENV`` prints for this
    run (from the transfers file; secrets are ``secretKeyRef`` references there)."""
    from etl_framework.deploy.manifests import build_job
    from etl_framework.deploy.spec import DEFAULT_TRANSFERS_FILE, get_transfer

    spec = get_transfer(request.job.transfer_name, DEFAULT_TRANSFERS_FILE, env=env)
    if spec.mode is not request.mode:
        raise ConfigError(
            f"{DEFAULT_TRANSFERS_FILE} runs {request.job.transfer_name!r} in "
            f"{spec.mode.value} mode in {env}, not {request.mode.value}: plan that mode"
        )
    return build_job(
        spec, request.execution_date, delta_start_date=request.delta_start_date, env=env
    )


def render_plan(request: RunRequest, k8s_env: str | None = None, output: str = "yaml") -> str:
    plan = build_plan(request, k8s_env)
    if output == "json":
        return json.dumps(plan, indent=2, default=str) + "\n"
    return "# pipeline --plan: nothing was run, leased or written\n" + yaml.safe_dump(
        plan, sort_keys=False, default_flow_style=False, width=PLAN_WIDTH
    )
