"""``pipeline --skip-unchanged`` on the demo with a SQLite ledger (real processes)."""

from __future__ import annotations

from pathlib import Path

from tests.support.change_detection import check_skip_race, check_skip_unchanged


def test_demo_second_identical_run_is_skipped(tmp_path: Path) -> None:
    check_skip_unchanged(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")


def test_two_processes_at_once_skip_or_wait_per_lease(tmp_path: Path) -> None:
    check_skip_race(
        tmp_path,
        f"sqlite:///{tmp_path / 'state.db'}",
        f"sqlite:///{tmp_path / 'fresh_state.db'}",
    )
