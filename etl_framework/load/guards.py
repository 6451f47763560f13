"""Guards: checks on the new rows that must pass before anything is published.

A failing guard raises `GuardError` (exit code 1) naming the guard and the numbers;
the target is not touched (the publish never starts). One `GuardConfig`, with one set
of defaults, serves the SQL strategies (`etl_framework.load`) and the BigQuery ones
(`etl_framework.load.bigquery`); it is ``transfers.<name>.guards`` in config::

    guards:
      min_rows: 1000             # fewer new rows -> refuse (truncate default: 1)
      min_fraction: 0.9          # new rows >= 90% of the rows they replace (truncate: 0.5)
      all_null_allowed: [note]   # mapped columns that may be entirely NULL

================  =========================  ============================================
guard             default                    refuses
================  =========================  ============================================
min_rows          1 for truncate, else 0     fewer new rows than this (an empty source
                                             never empties a target by default)
min_fraction      0.5 for truncate, else 0   new rows below this fraction of the rows
                  (0 disables)               they replace: the whole target for a
                                             truncate, the window's rows for a delta
forbid_all_null   on                         a mapped column NULL in every new row
                                             (except ``all_null_allowed``)
unique_keys       on                         a key value occurring twice in the new rows
null_keys         always (merge)             a NULL in a merge key column
window            always (replace_window)    a row outside the run's window
================  =========================  ============================================

The comparison base of ``min_fraction`` is what the run replaces; it is skipped while
the target (or window) is empty, and for merge and append (they replace nothing).

This module is the backend-neutral half (the config, its defaults, the numeric checks,
the messages); the guard queries run by each backend are in
`etl_framework.load.sql.guards` and the BigQuery strategies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from etl_framework.exceptions import GuardError

FULL_REFRESH_MIN_ROWS = 1
"""``min_rows`` of a full refresh (truncate) when the config leaves it unset."""
FULL_REFRESH_MIN_FRACTION = 0.5
"""``min_fraction`` of a full refresh (truncate) when the config leaves it unset."""


@dataclass(frozen=True)
class GuardLimits:
    """The numeric guards of one strategy, defaults applied (0: off)."""

    min_rows: int
    min_fraction: float


class GuardConfig(BaseModel):
    """Per-transfer guard settings, for SQL and BigQuery alike.

    ``None`` means: the default of the strategy (see `limits`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_rows: int | None = Field(default=None, ge=0)
    """Minimum new rows. Default: 1 for a full refresh (never empty a table by
    accident), 0 otherwise."""
    min_fraction: float | None = Field(default=None, ge=0, le=1)
    """New rows must be at least this fraction of the rows being replaced. Default:
    0.5 for a full refresh (a source that suddenly delivers less than half the table
    is refused), 0 (off) otherwise; 0 disables it."""
    forbid_all_null: bool = True
    """Refuse when a mapped column is NULL in every new row."""
    all_null_allowed: tuple[str, ...] = ()
    """Columns exempt from ``forbid_all_null``."""
    unique_keys: bool = True
    """Refuse duplicate key values among the new rows (when there are keys)."""

    def limits(self, *, full_refresh: bool) -> GuardLimits:
        """``min_rows`` and ``min_fraction`` with the defaults of a full refresh
        (truncate) or of any other strategy filled in."""
        return GuardLimits(
            min_rows=self.min_rows
            if self.min_rows is not None
            else (FULL_REFRESH_MIN_ROWS if full_refresh else 0),
            min_fraction=self.min_fraction
            if self.min_fraction is not None
            else (FULL_REFRESH_MIN_FRACTION if full_refresh else 0.0),
        )


def check_min_rows(staged: int, minimum: int, what: str = "staged") -> None:
    if staged < minimum:
        raise GuardError(
            "min_rows",
            f"{staged} rows {what}, at least {minimum} required "
            "(set guards.min_rows lower if that is expected)",
        )


def check_min_fraction(
    staged: int, current: int | None, fraction: float, scope: str, what: str = "staged"
) -> None:
    if not fraction or not current:
        return
    if staged < fraction * current:
        raise GuardError(
            "min_fraction",
            f"{staged} rows {what} would replace {current} rows of {scope} "
            f"({staged / current:.1%} < {fraction:.0%}; set guards.min_fraction "
            "lower, or 0, if the shrink is expected)",
        )


def null_keys_message(null_rows: int, staged: int, keys: Sequence[str]) -> str:
    """Why staged rows with a NULL key are refused (SQL and BigQuery alike)."""
    return (
        f"{null_rows} of {staged} staged rows have a NULL in the key ({', '.join(keys)}); "
        "NULL never equals NULL, so a merge cannot match them and every rerun would "
        "insert them again"
    )
