"""Write modes and run windows: the one place where date arithmetic lives.

A window is a half-open interval of calendar dates ``[start, end)``. ``truncate``
runs have the unbounded window (both ends ``None``); ``delta`` runs cover
``[start, execution_date + 1 day)``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from etl_framework.exceptions import InvalidDateError, InvalidWindowError

ONE_DAY = dt.timedelta(days=1)
DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d")
_DATE_SHAPE = re.compile(r"^(\d{8}|\d{4}-\d{2}-\d{2})$")


class WriteMode(StrEnum):
    """How a run writes its target."""

    TRUNCATE = "truncate"
    """Rebuild the whole target."""
    DELTA = "delta"
    """Rebuild only the run's window of the target."""

    def __str__(self) -> str:
        return self.value


def parse_date(value: str | dt.date, *, param: str = "date") -> dt.date:
    """Parse YYYYMMDD or YYYY-MM-DD into a date; raise InvalidDateError otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = value.strip()
    if not _DATE_SHAPE.match(text):  # strptime alone accepts "2024013"
        raise InvalidDateError(value, param=param)
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise InvalidDateError(value, param=param)


def format_date(value: dt.date) -> str:
    """The compact YYYYMMDD form used on command lines and in names."""
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


@dataclass(frozen=True, order=True)
class Window:
    """A half-open date interval ``[start, end)``; ``None`` means unbounded."""

    start: dt.date | None = None
    end: dt.date | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise InvalidWindowError(f"window start {self.start} is not before end {self.end}")

    @classmethod
    def unbounded(cls) -> Window:
        return cls(None, None)

    @classmethod
    def for_days(cls, start: dt.date, last_day: dt.date) -> Window:
        """The window covering the calendar days ``start`` .. ``last_day`` inclusive."""
        if start > last_day:
            raise InvalidWindowError(
                f"delta start date {format_date(start)} is after execution date "
                f"{format_date(last_day)}"
            )
        if last_day == dt.date.max:
            raise InvalidWindowError(
                f"execution date {format_date(last_day)} is the last representable day: "
                "a delta window ends the day after it"
            )
        return cls(start, last_day + ONE_DAY)

    @classmethod
    def for_run(
        cls,
        mode: WriteMode,
        execution_date: dt.date,
        delta_start_date: dt.date | None = None,
    ) -> Window:
        """The window of a run, as the CLI contract defines it."""
        if mode is WriteMode.TRUNCATE:
            if delta_start_date is not None:
                raise InvalidWindowError("--delta_start_date is only valid with mode delta")
            return cls.unbounded()
        return cls.for_days(delta_start_date or execution_date, execution_date)

    @classmethod
    def parse(cls, text: str) -> Window:
        """Inverse of ``str()``: ``all`` or ``YYYYMMDD..YYYYMMDD`` (end exclusive)."""
        if text == "all":
            return cls.unbounded()
        try:
            left, right = text.split("..")
        except ValueError:
            raise InvalidWindowError(f"invalid window {text!r}: expected START..END") from None
        return cls(parse_date(left) if left else None, parse_date(right) if right else None)

    @property
    def is_unbounded(self) -> bool:
        return self.start is None and self.end is None

    def contains(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day < self.end)

    def overlaps(self, other: Window) -> bool:
        starts_before_other_ends = self.start is None or other.end is None or self.start < other.end
        ends_after_other_starts = self.end is None or other.start is None or other.start < self.end
        return starts_before_other_ends and ends_after_other_starts

    def days(self) -> Iterator[dt.date]:
        """Each calendar day in a bounded window."""
        if self.start is None or self.end is None:
            raise InvalidWindowError("an unbounded window has no list of days")
        day = self.start
        while day < self.end:
            yield day
            day += ONE_DAY

    def split(self, parts: int) -> list[Window]:
        """At most ``parts`` adjacent whole-day windows covering this bounded one, in
        order, their lengths differing by at most a day (fewer when it has fewer days)."""
        if self.start is None or self.end is None:
            raise InvalidWindowError("an unbounded window cannot be split")
        days = (self.end - self.start).days
        count = max(1, min(parts, days))
        size, extra = divmod(days, count)
        windows, start = [], self.start
        for i in range(count):
            end = start + dt.timedelta(days=size + (1 if i < extra else 0))
            windows.append(Window(start, end))
            start = end
        return windows

    def next(self) -> Window:
        """The window of the same length that starts where this one ends."""
        if self.start is None or self.end is None:
            raise InvalidWindowError("an unbounded window has no next window")
        return Window(self.end, self.end + (self.end - self.start))

    def __str__(self) -> str:
        if self.is_unbounded:
            return "all"
        left = format_date(self.start) if self.start else ""
        right = format_date(self.end) if self.end else ""
        return f"{left}..{right}"


WINDOW_KINDS = frozenset({"date", "timestamp", "timestamptz"})
"""Column kinds a window can be compared with (`window_bound`); a `ColumnKind` is a str."""


def window_bound(day: dt.date, kind: str) -> dt.date | dt.datetime:
    """The value a window column of type ``kind`` (``date``, ``timestamp`` or
    ``timestamptz``; a `ColumnKind`) is compared with for the calendar day ``day``:
    the day itself, or its midnight (UTC for ``timestamptz``)."""
    if kind == "date":
        return day
    midnight = dt.datetime(day.year, day.month, day.day)
    return midnight.replace(tzinfo=dt.UTC) if kind == "timestamptz" else midnight
