"""The TMGETL seed's base class name (issue 14 item 8)."""

from __future__ import annotations

import pytest

from etl_framework import TMGETL, ETLJob, Outcome


def test_tmgetl_is_etljob() -> None:
    assert TMGETL is ETLJob


def test_a_tmgetl_subclass_must_implement_the_three_steps() -> None:
    class Partial(TMGETL):
        def pipeline(self) -> None: ...

    with pytest.raises(TypeError, match="abstract"):
        Partial(None)  # type: ignore[arg-type]

    class Whole(TMGETL):
        def pre_execution_cleansing(self) -> None: ...

        def pipeline(self) -> None: ...

        def post_execution_cleanup(self, outcome: Outcome) -> None: ...

    assert issubclass(Whole, ETLJob)
