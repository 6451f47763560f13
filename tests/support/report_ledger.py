"""A run ledger with known runs for the report tests (written through the real RunStore)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from etl_framework.state import RunStore
from etl_framework.window import Window, WriteMode

HOSTILE_ERROR = "ValueError: bad row <script>alert('x')</script> & \"quotes\""
"""An error line that would run a script if the page did not escape it."""


def add_run(
    store: RunStore,
    transfer: str,
    day: dt.date,
    *,
    status: str = "succeeded",
    error: str | None = None,
    rows: int = 10,
    steps: Mapping[str, Any] | None = None,
    orchestrator_run_id: str | None = None,
) -> str:
    """Record one finished delta run of ``transfer`` for window [day, day + 1)."""
    run_id = str(uuid.uuid4())
    store.start_run(
        run_id=run_id,
        transfer=transfer,
        execution_date=day,
        mode=WriteMode.DELTA,
        window=Window(day, day + dt.timedelta(days=1)),
        exclusive=False,
        targets=frozenset(),
        config_checksum="",
        code_version="1.2.3",
        image_tag="v1.2.3",
        orchestrator_run_id=orchestrator_run_id,
    )
    store.finish_run(
        run_id,
        status=status,
        rows_read=rows,
        rows_written=rows if status == "succeeded" else 0,
        error=error,
        exit_code=0 if status == "succeeded" else 1,
        steps=steps,
        metrics={},
    )
    return run_id


def sqlite_ledger(path: Path) -> str:
    """A fresh SQLite ledger at ``path`` (schema created); its URL."""
    url = f"sqlite:///{path}"
    store = RunStore(url)
    try:
        store.ensure_schema(True)
    finally:
        store.close()
    return url
