"""The warehouse fence and staging ownership on SQLite (the same scenarios run on
PostgreSQL in tests/integration/postgres/test_fence.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import fence_cases

SCENARIOS = [getattr(fence_cases, name) for name in dir(fence_cases) if name.startswith("check_")]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("check_"))
def test_fence_on_sqlite(tmp_path: Path, scenario: Callable[[str], None]) -> None:
    scenario(f"sqlite:///{tmp_path / 'warehouse.db'}")


def test_a_second_writer_waits_for_an_open_publish(tmp_path: Path) -> None:
    """SQLite: while run A is inside its publish transaction, run B's claim of the target
    (its own engine, as another process would have) waits for the write lock instead of
    reading a fence about to change, then claims after A committed."""
    import threading
    import time

    from tests.support.fence_cases import _data, build, fence_rows, seed, window
    from tests.support.ledger import FakeLedger
    from tests.support.strategy_cases import MAPPING, connector, table_rows

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    ledger = FakeLedger()
    with connector(url) as ca, connector(url) as cb:
        seed(ca, ledger)
        a = build(ca, "replace_window", ledger, "aaaaaaaa-first", 2, window(1, 2))
        a.claim()
        a.prepare()
        a.load(MAPPING.rows(_data(window(1, 2), 1)))
        inside, release = threading.Event(), threading.Event()
        original = a._publish

        def paused(conn: Any) -> Any:
            result = original(conn)
            inside.set()
            assert release.wait(30)
            return result

        a._publish = paused  # type: ignore[method-assign]
        errors: list[BaseException] = []
        claimed = threading.Event()

        def run(work: Callable[[], Any]) -> threading.Thread:
            def target() -> None:
                try:
                    work()
                except BaseException as exc:
                    errors.append(exc)

            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            return thread

        publisher = run(a.publish)
        assert inside.wait(30)
        b = build(cb, "replace_window", ledger, "bbbbbbbb-second", 3, window(1, 2))
        claimer = run(lambda: (b.claim(), claimed.set()))
        time.sleep(0.5)
        assert not claimed.is_set(), "B claimed while A's publish was open"
        release.set()
        publisher.join(30)
        claimer.join(30)
        assert errors == [] and claimed.is_set(), errors
        a.drop_staging()
        rows = {key: (token, run, done) for key, token, run, done in fence_rows(ca)}
        assert rows["20240102_20240104"] == (3, "bbbbbbbb-second", False)
        names = {r[0]: r[3] for r in table_rows(ca.engine)}
        assert all(names[r["id"]] == r["customer"]["name"] for r in _data(window(1, 2), 1))
