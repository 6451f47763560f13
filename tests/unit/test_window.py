from __future__ import annotations

import datetime as dt

import pytest

from etl_framework.exceptions import InvalidDateError, InvalidWindowError
from etl_framework.window import Window, WriteMode, format_date, parse_date, window_bound

D = dt.date


@pytest.mark.parametrize("text", ["20240115", "2024-01-15", " 20240115 "])
def test_parse_date_accepts_both_forms(text: str) -> None:
    assert parse_date(text) == D(2024, 1, 15)


@pytest.mark.parametrize("text", ["2024013", "20241301", "2024-1-15", "yesterday", "", "202401150"])
def test_parse_date_rejects_everything_else(text: str) -> None:
    with pytest.raises(InvalidDateError, match="expected YYYYMMDD"):
        parse_date(text)


def test_truncate_window_is_unbounded() -> None:
    window = Window.for_run(WriteMode.TRUNCATE, D(2024, 1, 15))
    assert window.is_unbounded and str(window) == "all"
    assert window.contains(D(1990, 1, 1))


def test_delta_window_is_half_open_and_ends_after_execution_date() -> None:
    window = Window.for_run(WriteMode.DELTA, D(2024, 1, 15))
    assert (window.start, window.end) == (D(2024, 1, 15), D(2024, 1, 16))
    assert window.contains(D(2024, 1, 15)) and not window.contains(D(2024, 1, 16))
    assert list(window.days()) == [D(2024, 1, 15)]


def test_delta_start_date_widens_window() -> None:
    window = Window.for_run(WriteMode.DELTA, D(2024, 1, 15), D(2024, 1, 10))
    assert len(list(window.days())) == 6
    assert Window.parse(str(window)) == window


def test_delta_start_after_execution_date_is_rejected() -> None:
    with pytest.raises(InvalidWindowError, match="after execution date"):
        Window.for_run(WriteMode.DELTA, D(2024, 1, 15), D(2024, 1, 16))


def test_delta_start_with_truncate_is_rejected() -> None:
    with pytest.raises(InvalidWindowError, match="only valid with mode delta"):
        Window.for_run(WriteMode.TRUNCATE, D(2024, 1, 15), D(2024, 1, 10))


def test_overlaps() -> None:
    jan = Window(D(2024, 1, 1), D(2024, 2, 1))
    feb = Window(D(2024, 2, 1), D(2024, 3, 1))
    assert not jan.overlaps(feb) and not feb.overlaps(jan)
    assert jan.overlaps(Window(D(2024, 1, 31), D(2024, 2, 2)))
    assert Window.unbounded().overlaps(jan) and jan.overlaps(Window.unbounded())


def test_next_and_format() -> None:
    assert Window(D(2024, 1, 1), D(2024, 1, 3)).next() == Window(D(2024, 1, 3), D(2024, 1, 5))
    assert format_date(D(2024, 1, 5)) == "20240105"
    assert str(WriteMode.DELTA) == "delta"


def test_the_last_representable_day_cannot_start_a_delta_window() -> None:
    with pytest.raises(InvalidWindowError, match="last representable day"):
        Window.for_run(WriteMode.DELTA, dt.date.max)


def test_dates_are_formatted_with_four_digit_years() -> None:
    assert format_date(dt.date(1, 1, 1)) == "00010101"
    assert Window.parse(str(Window(dt.date(1, 1, 1), dt.date(1, 1, 2)))).start == dt.date(1, 1, 1)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("date", dt.date(2024, 1, 15)),
        ("timestamp", dt.datetime(2024, 1, 15)),
        ("timestamptz", dt.datetime(2024, 1, 15, tzinfo=dt.UTC)),
    ],
)
def test_window_bound_is_the_day_or_its_midnight(kind: str, expected: object) -> None:
    bound = window_bound(dt.date(2024, 1, 15), kind)
    assert bound == expected and type(bound) is type(expected)
    assert getattr(bound, "tzinfo", None) == getattr(expected, "tzinfo", None)


def test_split_into_adjacent_whole_day_windows() -> None:
    import datetime as _dt

    from etl_framework.window import Window as _Window

    window = _Window(_dt.date(2024, 1, 1), _dt.date(2024, 1, 11))
    parts = window.split(4)
    assert [(p.start, p.end) for p in parts] == [
        (_dt.date(2024, 1, 1), _dt.date(2024, 1, 4)),
        (_dt.date(2024, 1, 4), _dt.date(2024, 1, 7)),
        (_dt.date(2024, 1, 7), _dt.date(2024, 1, 9)),
        (_dt.date(2024, 1, 9), _dt.date(2024, 1, 11)),
    ]
    assert window.split(30) == list(window.split(10))  # never more parts than days
    assert _Window(_dt.date(2024, 1, 1), _dt.date(2024, 1, 2)).split(4) == [
        _Window(_dt.date(2024, 1, 1), _dt.date(2024, 1, 2))
    ]
