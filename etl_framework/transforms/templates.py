"""SQL templates (a transform's ``where_clause``) rendered safely with Jinja2.

The template is SQL written by the job author and trusted as such; what it is
*given* is not: config ``params`` and the run's dates. So:

- Jinja2 runs in an `ImmutableSandboxedEnvironment` (no ``''.__class__`` walks, no
  mutation) with `StrictUndefined` (a misspelt name is an error, never empty SQL);
- every ``{{ value }}`` goes through `literal`: a date becomes a typed literal of the
  target dialect (``DATE '2024-02-01'``; SQLite's ISO text), a string a quoted and
  escaped string literal, a number a number. A param holding ``' OR 1=1 --`` or
  ``{{ 7*7 }}`` is rendered as that literal text, never as SQL or as a template;
- ``ds`` and ``ds_nodash`` (Airflow's names) are framework-made digits and dashes,
  rendered as is so data-flow's ``to_date('{{ ds }}', 'YYYY-MM-DD')`` keeps working;
- any error (syntax, undefined name, sandbox refusal, an unrenderable value) is a
  `TemplateError` (exit 3) naming the template and its line, raised before the run
  touches anything.

The context: ``ds``, ``ds_nodash``, ``execution_date`` (a date), ``window``
(``.start``, ``.end`` exclusive, ``.last_day``; None when unbounded), ``params``, and
the helpers ``date(text)``, ``month_start(day)``, ``month_end(day)`` (last day),
``next_month_start(day)``, ``financial_year_start(day)`` (from the
``financial_year_first_month_day`` option, data-flow's FINANCIAL_YEAR_FIRST_MONTH_DAY)
and ``days(n)`` (a timedelta for date arithmetic).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from etl_framework.exceptions import ConfigError, TemplateError, missing_extra_error
from etl_framework.window import ONE_DAY, Window, format_date, parse_date

DIALECTS = ("postgresql", "sqlite", "bigquery")
DEFAULT_FINANCIAL_YEAR_FIRST_MONTH_DAY = "04-01"


class SafeSql(str):
    """Text the framework made itself (``ds``): rendered as is."""

    __slots__ = ()


def literal(value: Any, dialect: str) -> str:
    """``value`` as a SQL literal of ``dialect`` (raises ConfigError for other types)."""
    if isinstance(value, SafeSql):
        return str(value)
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        if dialect == "sqlite":
            return "1" if value else "0"
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"cannot render {value!r} as a SQL number")
        if isinstance(value, Decimal) and not value.is_finite():
            raise ConfigError(f"cannot render {value!r} as a SQL number")
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dt.datetime):
        return _timestamp_literal(value, dialect)
    if isinstance(value, dt.date):
        text = value.isoformat()
        return _string_literal(text, dialect) if dialect == "sqlite" else f"DATE '{text}'"
    if isinstance(value, str):
        return _string_literal(value, dialect)
    raise ConfigError(
        f"cannot render a {type(value).__name__} in SQL: use a string, number, date or datetime"
    )


def _timestamp_literal(value: dt.datetime, dialect: str) -> str:
    if dialect == "sqlite":
        return _string_literal(value.isoformat(sep=" "), dialect)
    if dialect == "bigquery":
        kind = "TIMESTAMP" if value.tzinfo is not None else "DATETIME"
        return f"{kind} '{value.isoformat(sep=' ')}'"
    kind = "TIMESTAMPTZ" if value.tzinfo is not None else "TIMESTAMP"
    return f"{kind} '{value.isoformat(sep=' ')}'"


def _string_literal(text: str, dialect: str) -> str:
    if "\x00" in text:
        raise ConfigError("cannot render a string holding a NUL character in SQL")
    if dialect == "bigquery":  # GoogleSQL: backslash escapes, no raw newlines
        escaped = (
            text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
        )
        return f"'{escaped}'"
    # PostgreSQL (standard_conforming_strings, the default since 9.1) and SQLite
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class TemplateWindow:
    """The run's window as templates see it (None ends: unbounded, a truncate run)."""

    start: dt.date | None
    end: dt.date | None
    """Exclusive."""

    @property
    def last_day(self) -> dt.date | None:
        return self.end - ONE_DAY if self.end is not None else None


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return parse_date(str(value), param="template date")


def month_start(value: Any) -> dt.date:
    return _day(value).replace(day=1)


def next_month_start(value: Any) -> dt.date:
    day = _day(value)
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def month_end(value: Any) -> dt.date:
    """The last day of the month of ``value``."""
    return next_month_start(value) - ONE_DAY


def parse_month_day(text: str) -> tuple[int, int]:
    """``MM-DD`` (e.g. ``04-25``) as (month, day); ConfigError otherwise."""
    try:
        month_text, day_text = text.split("-")
        month, day = int(month_text), int(day_text)
        dt.date(2001, month, day)  # not a leap year: 02-29 is refused
    except ValueError:
        raise ConfigError(
            f"invalid month-day {text!r}: expected MM-DD, e.g. 04-25 (not 02-29)"
        ) from None
    return month, day


def financial_year_start(value: Any, first_month_day: str) -> dt.date:
    """The first day of the financial year holding ``value``."""
    day = _day(value)
    month, first = parse_month_day(first_month_day)
    start = dt.date(day.year, month, first)
    return start if day >= start else dt.date(day.year - 1, month, first)


def template_context(
    execution_date: dt.date,
    window: Window,
    params: Mapping[str, Any] | None = None,
    *,
    financial_year_first_month_day: str = DEFAULT_FINANCIAL_YEAR_FIRST_MONTH_DAY,
) -> dict[str, Any]:
    """The names a template may use for one run."""
    parse_month_day(financial_year_first_month_day)
    return {
        "ds": SafeSql(execution_date.isoformat()),
        "ds_nodash": SafeSql(format_date(execution_date)),
        "execution_date": execution_date,
        "window": TemplateWindow(window.start, window.end),
        "params": dict(params or {}),
        "date": _day,
        "month_start": month_start,
        "month_end": month_end,
        "next_month_start": next_month_start,
        "financial_year_start": lambda value=execution_date: financial_year_start(
            value, financial_year_first_month_day
        ),
        "days": lambda n: dt.timedelta(days=int(n)),
    }


def render(name: str, source: str, context: Mapping[str, Any], dialect: str) -> str:
    """Render template ``source`` (called ``name`` in errors) for ``dialect``."""
    try:
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:  # pragma: no cover - the transforms extra is missing
        raise missing_extra_error("jinja2", "transforms") from None
    if dialect not in DIALECTS:
        raise ConfigError(f"unknown SQL dialect {dialect!r}: expected one of {DIALECTS}")

    def finalize(value: Any) -> str:
        if isinstance(value, jinja2.Undefined):
            return str(value)  # StrictUndefined: raises UndefinedError
        return literal(value, dialect)

    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FunctionLoader(lambda _name: (source, name, lambda: True)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=finalize,
        keep_trailing_newline=True,
    )
    try:
        return env.get_template(name).render(dict(context))
    except Exception as exc:  # syntax, undefined, sandbox, a helper's bad argument
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise TemplateError(name, _line(exc, name), detail) from exc


def _line(exc: BaseException, name: str) -> int | None:
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    line = None
    tb = exc.__traceback__
    while tb is not None:  # Jinja rewrites frames to the template's name and line
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


__all__ = [
    "DEFAULT_FINANCIAL_YEAR_FIRST_MONTH_DAY",
    "SafeSql",
    "TemplateWindow",
    "financial_year_start",
    "literal",
    "month_end",
    "month_start",
    "next_month_start",
    "render",
    "template_context",
]
