"""What ``pipeline --plan`` lists of a write strategy: the statements a run would execute.

A strategy's ``describe`` returns `PlannedStatement` items built by the same functions
its run executes (compiled for the target's dialect, parameters kept apart exactly as
they are bound), so the plan cannot drift from the run. Steps that are not one SQL
statement (the warehouse fence, streaming the rows, a BigQuery load job) are items
with a ``note`` and no ``sql``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.sql.elements import TextClause


@dataclass(frozen=True)
class PlannedStatement:
    """One statement (or step) of a run, as the run would send it."""

    sql: str = ""
    """The statement text as executed (placeholders in the driver's style); "": a step."""
    params: dict[str, Any] = field(default_factory=dict)
    """The bound values, by name."""
    note: str = ""
    """What the statement is for, or the step when there is no SQL."""
    order: tuple[str, ...] = ()
    """Positional drivers (``?``): the parameter names in the order they are sent."""

    def as_dict(self) -> dict[str, Any]:
        """For printing: whitespace collapsed, values as text (dates ISO)."""
        out: dict[str, Any] = {}
        if self.sql:
            out["sql"] = " ".join(self.sql.split())
        if self.params:
            out["params"] = {k: _shown(v) for k, v in self.params.items()}
        if self.note:
            out["note"] = self.note
        return out


def _shown(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def step(note: str) -> PlannedStatement:
    """A step that is not one SQL statement."""
    return PlannedStatement(note=note)


def planned(statement: str | TextClause, dialect: Dialect, note: str = "") -> PlannedStatement:
    """``statement`` as executed on ``dialect``: a plain string as is (run with
    ``exec_driver_sql``), a bound `TextClause` compiled with its parameters."""
    if isinstance(statement, str):
        return PlannedStatement(statement, {}, note)
    compiled = statement.compile(dialect=dialect)
    order = tuple(getattr(compiled, "positiontup", None) or ())
    return PlannedStatement(str(compiled), dict(compiled.params), note, order)


__all__ = ["PlannedStatement", "planned", "step"]
