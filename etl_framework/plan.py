"""``pipeline ... --plan``: what a run would do, resolved and printed, touching nothing.

Everything comes from the validated `RunRequest` and a read-only look at the ledger
(the catch-up window): no ledger row, no lease, no connection that writes. Secrets are
masked (``SecretStr`` fields dump as ``**********``; registered secrets are redacted).
Not shown yet: the SQL statements a strategy would execute.
"""

from __future__ import annotations

import datetime as dt
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


def covered_until(url: str, transfer: str) -> dt.date | None:
    """`RunStore.covered_until`, read-only (None when there is no ledger yet)."""
    from etl_framework.report.ledger import ledger_connection, readonly_engine
    from etl_framework.state.models import Run

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
            rows = conn.execute(
                sa.select(Run.window_end, Run.execution_date).where(
                    Run.transfer == transfer, Run.status == "succeeded"
                )
            ).all()
    finally:
        engine.dispose()
    ends = [end or day + ONE_DAY for end, day in rows]
    return max(ends) if ends else None


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


def build_plan(request: RunRequest) -> dict[str, Any]:
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
        "ledger": state_url.render_as_string(hide_password=True),
        "options": _dump(options),
        "config": config.model_dump(mode="json", exclude={"checksum"}),
    }
    return dict(redaction.redact_value(plan))


def render_plan(request: RunRequest) -> str:
    return "# pipeline --plan: nothing was run, leased or written\n" + yaml.safe_dump(
        build_plan(request), sort_keys=False, default_flow_style=False, width=100
    )
