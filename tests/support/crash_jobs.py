"""Transfers that SIGKILL themselves at a chosen point of a run (ETL_JOBS_MODULES).

``ETL_TEST_CRASH_AT`` names the point:

- ``after_cleansing``: pre_execution_cleansing has run, nothing loaded yet;
- ``mid_load``: half of the records are in the load stream (staging or, with
  ``publish: direct``, the open transaction on the target);
- ``in_publish``: inside the publish transaction, right after the first statement
  that changes the target (DELETE of the old rows, or the merge's upsert) executed;
- ``before_commit``: the publish transaction did all its work and is about to commit;
- ``after_publish``: the publish committed, the ledger still says running;
- ``in_cleanup``: post_execution_cleanup is about to drop the staging table.

The kill is a real SIGKILL of the process: no cleanup, no rollback, no ledger update.

Two more hooks, for the lease tests:

- ``ETL_TEST_PAUSE_FILE``: at mid-load the run creates this file and waits (up to a
  minute) until the test deletes it: a run caught in the middle of writing its target;
  with ``ETL_TEST_PAUSE_AT=before_publish`` it waits right before its publish
  transaction instead (staging loaded, nothing published);
- ``ETL_TEST_BLIND_HEARTBEAT``: from that pause on, the run's heartbeats cannot reach
  the ledger (``UPDATE etl_leases`` fails, as across a network partition), so the run
  cannot learn from the ledger that it lost its lease: only the warehouse fence can
  stop its publish;
- ``ETL_TEST_LEDGER_FAULT``: once the publish committed, the ledger's database fails
  the run's outcome (``UPDATE etl_runs``) that many times, or every time (``always``),
  as an unreachable database would (an OperationalError from the driver).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from etl_framework import register
from etl_framework.job import Outcome
from etl_framework.transfers import TableTransferJob, TableTransferOptions
from etl_framework.window import WriteMode
from tests.support.load_jobs import FIRST_DAY, ORDERS_MAPPING

DAYS = 30
CRASH_ENV = "ETL_TEST_CRASH_AT"
PAUSE_ENV = "ETL_TEST_PAUSE_FILE"
PAUSE_AT_ENV = "ETL_TEST_PAUSE_AT"
BLIND_HEARTBEAT_ENV = "ETL_TEST_BLIND_HEARTBEAT"
LEDGER_FAULT_ENV = "ETL_TEST_LEDGER_FAULT"
CRASH_POINTS = (
    "after_cleansing",
    "mid_load",
    "in_publish",
    "before_commit",
    "after_publish",
    "in_cleanup",
)
# A statement that changes the target table itself (not its staging table).
_TARGET_WRITE = re.compile(r'^\s*(DELETE\s+FROM|INSERT\s+INTO|TRUNCATE\s+TABLE)\s+"?orders\b', re.I)


def day_of(i: int) -> dt.date:
    return FIRST_DAY + dt.timedelta(days=i % DAYS)


def record(i: int, version: int) -> dict[str, Any]:
    return {"id": i, "day": day_of(i), "version": version, "payload": f"row {i} v{version}"}


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _pause_at() -> str | None:
    if not os.environ.get(PAUSE_ENV):
        return None
    return os.environ.get(PAUSE_AT_ENV) or "mid_load"


def _pause() -> None:
    if os.environ.get(BLIND_HEARTBEAT_ENV):
        _blind_the_heartbeat()
    path = Path(os.environ[PAUSE_ENV])
    path.touch()
    deadline = time.monotonic() + 60
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _blind_the_heartbeat() -> None:
    """Every engine of the process fails the lease's heartbeat (``UPDATE etl_leases``)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.exc import OperationalError

    def before_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE ETL_LEASES"):
            raise OperationalError(statement, None, ConnectionError("injected: no route"))

    event.listen(Engine, "before_cursor_execute", before_execute)


def _break_the_ledger(times: str) -> None:
    """Every engine of the process fails ``UPDATE etl_runs`` ``times`` times."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.exc import OperationalError

    left = [float("inf") if times == "always" else int(times)]

    def before_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE ETL_RUNS") and left[0] > 0:
            left[0] -= 1
            raise OperationalError(statement, None, ConnectionError("injected: server closed"))

    event.listen(Engine, "before_cursor_execute", before_execute)


class CrashOptions(TableTransferOptions):
    rows: int = 3000
    version: int = 0


class _CrashingOrders(TableTransferJob[CrashOptions]):
    target_table = "orders"
    mapping = ORDERS_MAPPING
    window_column = "day"

    @property
    def crash_at(self) -> str | None:
        return os.environ.get(CRASH_ENV) or None

    def source(self) -> Iterator[dict[str, Any]]:
        options = self.options
        window = self.context.window
        delta = self.context.mode is WriteMode.DELTA
        for i in range(options.rows):
            if i == options.rows // 2:
                if self.crash_at == "mid_load":
                    _die()
                if _pause_at() == "mid_load":
                    _pause()
            if delta and not window.contains(day_of(i)):
                continue
            yield record(i, options.version)

    def pre_execution_cleansing(self) -> None:
        super().pre_execution_cleansing()
        if self.crash_at == "after_cleansing":
            _die()
        if self.crash_at in ("in_publish", "before_commit"):
            self._arm_publish_crash(self.crash_at)

    def build_strategy(self) -> Any:
        strategy = super().build_strategy()
        if _pause_at() == "before_publish":
            publish = strategy.publish

            def paused_publish() -> Any:
                _pause()
                return publish()

            strategy.publish = paused_publish
        return strategy

    def _arm_publish_crash(self, point: str) -> None:
        from sqlalchemy import event

        engine = self.connector.engine
        changed = False

        def after_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            nonlocal changed
            if _TARGET_WRITE.match(statement):
                if point == "in_publish":
                    _die()
                changed = True

        def before_commit(_conn: Any) -> None:  # fires before the DBAPI commit
            if changed:
                _die()

        event.listen(engine, "after_cursor_execute", after_execute)
        event.listen(engine, "commit", before_commit)

    def pipeline(self) -> None:
        super().pipeline()
        if self.crash_at == "after_publish":
            _die()
        if os.environ.get(LEDGER_FAULT_ENV):
            _break_the_ledger(os.environ[LEDGER_FAULT_ENV])

    def post_execution_cleanup(self, outcome: Outcome) -> None:
        if self.crash_at == "in_cleanup":
            _die()
        super().post_execution_cleanup(outcome)


@register("crash_orders")
class CrashOrdersJob(_CrashingOrders):
    """Delta replaces the window."""


@register("crash_orders_merge")
class CrashOrdersMergeJob(_CrashingOrders):
    """Delta upserts the window's records on ``id``."""

    delta_strategy = "merge"
