"""The statements ``pipeline --plan`` lists: the run's write strategy, described.

The job is built as the runner builds it (its options, the planned window, a run id
made up for the plan, so the staging name ends in another 8 characters than the real
run's), with connectors that are never opened. A SQL strategy then looks at its target
through a read-only connection (SQLite ``mode=ro``, only if the file exists; PostgreSQL
with ``default_transaction_read_only``); a BigQuery strategy lists its statements
without calling BigQuery. Jobs without a declarative write strategy say so.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from etl_framework.context import Connections, RunContext
from etl_framework.exceptions import ConfigError, ETLError
from etl_framework.logs import run_logger

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from etl_framework.connections import Connector
    from etl_framework.runner import RunRequest
    from etl_framework.window import Window

PLAN_FENCE_TOKEN = 1
"""The plan's stand-in fencing token: a run always has one (issued with its lease), so
the fence steps are listed; the real token is only known once the lease is taken."""


class UnopenedConnections(Connections):
    """Connectors built from config but never opened (no engine, no client, no file)."""

    def get(self, name: str, kind: type[Any] | None = None) -> Any:
        from etl_framework.connections import build_connector

        if name not in self._configs:
            return super().get(name, kind)  # the usual error
        with self._lock:
            connector: Connector | None = self._open.get(name)
            if connector is None:
                connector = build_connector(name, self._configs[name])
                self._open[name] = connector
        if kind is not None and not isinstance(connector, kind):
            return super().get(name, kind)  # the usual error
        return connector


class PlanLedger:
    """The plan's `LedgerHandle`: reads the ledger read-only (a SQLite ledger opened
    ``mode=ro``, PostgreSQL read-only transactions; liveness probed without removing a
    dead holder's lock file) and records nothing. Its `stale_staging` is the run's own
    decision (`etl_framework.state.store.stale_staging_names`)."""

    def __init__(self, url: str, lease_ttl_seconds: float, run_id: str) -> None:
        self.url = url
        self.lease_ttl = dt.timedelta(seconds=lease_ttl_seconds)
        self.run_id = run_id

    def stale_staging(self, connection: str, target: str) -> list[str]:
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url

        from etl_framework.report.ledger import ledger_connection, readonly_engine
        from etl_framework.state.liveness import liveness_for
        from etl_framework.state.models import Staging
        from etl_framework.state.store import stale_staging_names

        try:
            engine = readonly_engine(self.url)
        except ConfigError as exc:
            if "no run ledger" in str(exc):
                return []  # no ledger yet: nothing recorded
            raise
        liveness = liveness_for(make_url(self.url), readonly=True)
        try:
            with ledger_connection(engine) as conn:
                if not sa.inspect(conn).has_table(Staging.__tablename__):
                    return []
                return stale_staging_names(
                    conn, liveness, self.lease_ttl, self.run_id, connection, target
                )
        finally:
            liveness.close()
            engine.dispose()

    def record_staging(self, connection: str, target: str, name: str) -> None:
        raise AssertionError("pipeline --plan records nothing")

    def staging_dropped(self, connection: str, name: str) -> None:
        raise AssertionError("pipeline --plan records nothing")

    def reconcile_published(self, run_id: str) -> bool:
        raise AssertionError("pipeline --plan records nothing")


def strategy_statements(request: RunRequest, window: Window) -> dict[str, Any]:
    """``{"staging": name, "statements": [...]}``, or a line saying why there are none."""
    job_cls = request.job
    if not callable(getattr(job_cls, "build_strategy", None)):
        return {"statements": "none listed: the job writes in its own pipeline() code"}
    config = request.config
    run_id = str(uuid.uuid4())
    context = RunContext(
        transfer=job_cls.transfer_name,
        execution_date=request.execution_date,
        mode=request.mode,
        window=window,
        run_id=run_id,
        config=config,
        options=job_cls.options_from(config),
        connections=UnopenedConnections(config.connections),
        logger=run_logger(transfer=job_cls.transfer_name, run_id="plan"),
        fence_token=PLAN_FENCE_TOKEN,
        ledger=PlanLedger(
            config.state.url.get_secret_value(), config.state.lease_ttl_seconds, run_id
        ),
    )
    job: Any = job_cls(context)
    if getattr(job, "materialized", None) == "view":
        return _view_statements(job)
    try:
        from etl_framework.load.sql.base import WriteStrategy

        strategy = job.strategy
        if isinstance(strategy, WriteStrategy):  # (not its engine: that would open it)
            statements = _sql_statements(strategy)
        else:
            statements = strategy.describe()
    except ETLError as exc:
        return {"statements": f"none: the run would stop before any data moves: {exc}"}
    staging = strategy.staging
    return {
        "staging": f"{staging} (the run's own id replaces {str(staging)[-8:]})",
        "leftover_staging": _leftover_staging(strategy),
        "statements": [s.as_dict() for s in statements],
    }


def _leftover_staging(strategy: Any) -> list[str] | str:
    """The staging tables ``pre_execution_cleansing`` would drop: recorded in the ledger
    for runs of this target that are gone (the strategy's own `stale_staging`)."""
    stale = getattr(strategy, "stale_staging", None)
    if not callable(stale):
        return "none listed: the strategy does not record staging in the ledger"
    return list(stale())


def _sql_statements(strategy: Any) -> list[Any]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    connector = strategy.connector
    url = connector.config.url.get_secret_value()
    engine = _read_only_engine(url, dict(connector.config.connect_args))
    if engine is None:  # a new SQLite warehouse: nothing exists yet
        return list(strategy.describe(None, make_url(url).get_dialect()()))
    try:
        with engine.connect() as conn:
            return list(strategy.describe(conn, conn.dialect))
    except SQLAlchemyError as exc:
        from etl_framework.db import database_error
        from etl_framework.redaction import redact

        error = database_error(exc, "warehouse")
        text = str(error) if error is not None else redact(str(exc).splitlines()[0])
        raise ETLError(f"the target could not be inspected read-only: {text}") from None
    finally:
        engine.dispose()


def _read_only_engine(url: str, connect_args: dict[str, Any]) -> Engine | None:
    from sqlalchemy.engine import make_url

    from etl_framework.load.sql.target_check import read_only_engine

    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        options = connect_args.get("options", "")
        connect_args["options"] = f"{options} -c default_transaction_read_only=on".strip()
    return read_only_engine(url, backend, connect_args)


def _view_statements(job: Any) -> dict[str, Any]:
    """A view transform: the statements of its one transaction (SQL targets)."""
    from sqlalchemy.engine import make_url

    from etl_framework.load.planned import PlannedStatement, step

    if not callable(getattr(job, "view_statements", None)):
        return {"statements": "none listed: the view is replaced by the job's own code"}
    url = job.connector.config.url.get_secret_value()
    replace, recreate = job.view_statements(make_url(url).get_dialect()())
    statements = [step("BEGIN (one transaction until COMMIT)")]
    if replace is not None:
        statements.append(PlannedStatement(replace, note="replace the view"))
    note = "if CREATE OR REPLACE failed (the columns changed)" if replace else "replace the view"
    statements += [PlannedStatement(sql, note=note) for sql in recreate]
    statements.append(step("COMMIT"))
    return {"statements": [s.as_dict() for s in statements]}
