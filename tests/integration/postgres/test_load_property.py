"""The run-sequence property (tests/support/run_sequences.py) on real PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.run_sequences import check, operation


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(operation, min_size=1, max_size=5))
def test_any_run_sequence_matches_the_model_on_postgres(
    postgres_url: str, ops: list[tuple[str, int, int, int]]
) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        for (name,) in conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).all():
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
    engine.dispose()
    check(postgres_url, ops)
