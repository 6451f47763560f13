"""Property: any sequence of truncate/delta runs (and crashed runs) over random windows
of a deterministic source leaves the table one clean truncate would (SQLite here; the
PostgreSQL variant is in tests/integration/postgres/test_load_property.py; the model is
tests/support/run_sequences.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.run_sequences import apply, check, operation, table
from tests.support.strategy_cases import connector


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=6))
def test_any_run_sequence_matches_the_model(ops: list[tuple[str, int, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check(f"sqlite:///{Path(tmp) / 'w.db'}", ops)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(operation, min_size=0, max_size=5),
    st.lists(operation, min_size=0, max_size=5),
)
def test_runs_of_one_source_equal_one_truncate(
    before: list[tuple[str, int, int, int]], after: list[tuple[str, int, int, int]]
) -> None:
    """Any runs of the same source around a truncate == that one truncate alone."""
    same = [(k, s, n, 1) for k, s, n, _v in after]
    with tempfile.TemporaryDirectory() as tmp:
        with connector(f"sqlite:///{Path(tmp) / 'once.db'}") as c:
            apply(c, 0, ("truncate", 0, 0, 1))
            once = table(c)
        with connector(f"sqlite:///{Path(tmp) / 'many.db'}") as c:
            for number, op in enumerate([*before, ("truncate", 0, 0, 1), *same]):
                apply(c, number, op)
            assert table(c) == once
