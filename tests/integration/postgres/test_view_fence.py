"""The warehouse fence of view transforms on a real PostgreSQL: the scenarios of
tests/support/view_fence_cases.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support import view_fence_cases

SCENARIOS = [
    getattr(view_fence_cases, name) for name in dir(view_fence_cases) if name.startswith("check_")
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("check_"))
def test_view_fence_on_postgres(postgres_url: str, scenario: Callable[[str], None]) -> None:
    scenario(postgres_url)
