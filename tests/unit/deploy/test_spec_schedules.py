"""transfers.yaml schedules like data-flow's (issue 14 items 3, 4, 6): start/end dates
(moving dates refused), catchup, presets and cron, depends_on and asset settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from etl_framework.deploy.spec import load_transfers
from etl_framework.exceptions import ConfigValidationError

HEAD = "defaults: {image: repo/etl, namespace: etl, config: x, mode: truncate}\ntransfers:\n"


def load(tmp_path: Path, *entries: str) -> list:  # type: ignore[type-arg]
    path = tmp_path / "transfers.yaml"
    path.write_text(HEAD + "".join(f"  - {entry}\n" for entry in entries))
    return load_transfers(path, None)


def problems(tmp_path: Path, *entries: str) -> str:
    with pytest.raises(ConfigValidationError) as caught:
        load(tmp_path, *entries)
    return str(caught.value)


@pytest.mark.parametrize(
    "schedule", ["@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "0 3 * * 1-5"]
)
def test_presets_and_cron(tmp_path: Path, schedule: str) -> None:
    (spec,) = load(
        tmp_path,
        f"{{name: a, schedule: '{schedule}', start_date: 2017-11-01, end_date: 2018-02-01, "
        "catchup: true}",
    )
    assert (spec.schedule, spec.catchup) == (schedule, True)
    assert (spec.start_date, spec.end_date) == (dt.date(2017, 11, 1), dt.date(2018, 2, 1))


@pytest.mark.parametrize("moving", ["today", "now", "Today"])
def test_moving_dates_are_refused(tmp_path: Path, moving: str) -> None:
    text = problems(tmp_path, f"{{name: a, start_date: {moving}}}")
    assert "is not a fixed date" in text
    text = problems(tmp_path, f"{{name: a, start_date: 2024-01-01, end_date: {moving}}}")
    assert "end_date" in text and "is not a fixed date" in text


def test_end_before_start_and_unknown_preset(tmp_path: Path) -> None:
    assert "end_date 2023-01-01 is before start_date 2024-01-01" in problems(
        tmp_path, "{name: a, start_date: 2024-01-01, end_date: 2023-01-01}"
    )
    assert "unknown schedule preset '@fortnightly'" in problems(
        tmp_path, "{name: a, start_date: 2024-01-01, schedule: '@fortnightly'}"
    )


def test_depends_on_and_assets(tmp_path: Path) -> None:
    up, down = load(
        tmp_path,
        "{name: up, start_date: 2024-01-01, target: warehouse/orders}",
        "{name: down, start_date: 2024-01-01, depends_on: [up, other], schedule_on_upstream: true}",
    )
    assert up.asset_uri == "etl://warehouse/orders"
    assert down.asset_uri == "etl://transfer/down"
    assert down.pipeline_args("20240101")[-4:] == ["--depends-on", "up", "--depends-on", "other"]
    assert "schedule_on_upstream needs depends_on" in problems(
        tmp_path, "{name: a, start_date: 2024-01-01, schedule_on_upstream: true}"
    )
    assert "connection/table" in problems(
        tmp_path, "{name: a, start_date: 2024-01-01, target: 'no slash'}"
    )
