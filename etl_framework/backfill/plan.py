"""Which windows a backfill runs, and the journal that makes a rerun resume."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from etl_framework.window import format_date, parse_date

ONE_DAY = dt.timedelta(days=1)
DEFAULT_JOURNAL_DIR = ".etl/backfill"
"""Where journals go by default (relative to the working directory, like the ledger)."""


def windows(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day of [start, end], in order (one one-day window each)."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def succeeded_days(url: str, transfer: str, since: dt.datetime | None = None) -> set[dt.date]:
    """Days covered by a succeeded run of ``transfer`` (started at or after ``since``),
    read without writing; an empty set when there is no ledger yet."""
    from etl_framework.exceptions import ConfigError
    from etl_framework.report.ledger import covered_days, ledger_connection, readonly_engine
    from etl_framework.state.models import Run

    try:
        engine = readonly_engine(url)
    except ConfigError as exc:
        if "no run ledger" in str(exc):
            return set()
        raise
    query = sa.select(Run.window_start, Run.window_end, Run.execution_date, Run.started_at).where(
        Run.transfer == transfer, Run.status == "succeeded"
    )
    days: set[dt.date] = set()
    try:
        with ledger_connection(engine) as conn:
            if not sa.inspect(conn).has_table(Run.__tablename__):
                return days
            for start, end, day, started in conn.execute(query):
                if since is not None:
                    aware = started if started.tzinfo else started.replace(tzinfo=dt.UTC)
                    if aware < since:
                        continue
                first, stop = covered_days(start, end, day)
                while first < stop:
                    days.add(first)
                    first += ONE_DAY
    finally:
        engine.dispose()
    return days


def missing_days(url: str, transfer: str, days: list[dt.date]) -> list[dt.date]:
    """The days without a succeeded run (``--only-missing``)."""
    covered = succeeded_days(url, transfer)
    return [day for day in days if day not in covered]


def contiguous_ranges(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """[first, last] of each run of consecutive days (an Indexed Job covers one range)."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] + ONE_DAY == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


class Journal:
    """JSON lines: a header, then one line per finished window (fsynced).

    A process killed mid-write leaves at most a torn last line, which is ignored.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def default_path(transfer: str, start: dt.date, end: dt.date, mode: str) -> Path:
        name = f"{transfer}-{format_date(start)}-{format_date(end)}-{mode}.jsonl"
        return Path(DEFAULT_JOURNAL_DIR) / name

    def _lines(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # torn by a kill mid-write
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    def started_at(self) -> dt.datetime | None:
        for entry in self._lines():
            if "started_at" in entry:
                return dt.datetime.fromisoformat(entry["started_at"])
        return None

    def done(self) -> set[dt.date]:
        return {
            parse_date(entry["day"])
            for entry in self._lines()
            if entry.get("status") == "succeeded" and "day" in entry
        }

    def begin(self, restart: bool = False) -> dt.datetime:
        """Start (or, when one exists and not ``restart``, continue) the journal."""
        existing = None if restart else self.started_at()
        if existing is not None:
            return existing
        now = dt.datetime.now(dt.UTC)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"started_at": now.isoformat()}) + "\n")
        return now

    def record(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
