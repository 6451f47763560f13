"""The warehouse fence and staging ownership on a real PostgreSQL: the scenarios of
tests/support/fence_cases.py, and publishers of one target that never interleave."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from etl_framework.load.sql.base import WriteStrategy
from tests.support import fence_cases
from tests.support.fence_cases import build, recs, seed, window
from tests.support.ledger import FakeLedger
from tests.support.strategy_cases import MAPPING, connector, table_rows

SCENARIOS = [getattr(fence_cases, name) for name in dir(fence_cases) if name.startswith("check_")]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("check_"))
def test_fence_on_postgres(postgres_url: str, scenario: Callable[[str], None]) -> None:
    scenario(postgres_url)


class _PausedPublish:
    """Runs ``strategy.publish()`` in a thread that stops inside the publish transaction,
    right after the data changed, until released."""

    def __init__(self, strategy: WriteStrategy) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self.error: BaseException | None = None
        original = strategy._publish

        def paused(conn: Any) -> Any:
            result = original(conn)
            self.inside.set()
            assert self.release.wait(30), "never released"
            return result

        strategy._publish = paused  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self._run, args=(strategy,), daemon=True)

    def _run(self, strategy: WriteStrategy) -> None:
        try:
            strategy.publish()
        except BaseException as exc:
            self.error = exc

    def start(self) -> None:
        self.thread.start()
        assert self.inside.wait(30), "the publish never started"


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def _waiting_on_the_fence(engine: sa.Engine, timeout: float = 10) -> bool:
    """A backend waits for an advisory lock (the fence's transaction lock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            waiting = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
            ).scalar()
        if waiting:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("second", ["claim", "disjoint_publish"])
def test_publishers_of_one_target_never_interleave(postgres_url: str, second: str) -> None:
    """While run A is inside its publish transaction, a second connection's claim of the
    target (or publish of another, disjoint window) blocks on the fence until A commits."""
    ledger = FakeLedger()
    with connector(postgres_url) as c:
        seed(c, ledger)
        a = build(c, "replace_window", ledger, "aaaaaaaa-first", 2, window(1, 2))
        a.claim()
        a.prepare()
        a.load(MAPPING.rows(fence_cases._data(window(1, 2), 1)))
        b_window = window(1, 2) if second == "claim" else window(6, 2)
        b = build(c, "replace_window", ledger, "bbbbbbbb-second", 3, b_window)
        if second == "disjoint_publish":
            b.claim()  # disjoint: does not fence A out
            b.prepare()
            b.load(MAPPING.rows(fence_cases._data(b_window, 2)))
        paused = _PausedPublish(a)
        paused.start()
        try:
            work = b.claim if second == "claim" else b.publish
            thread, errors = _in_thread(work)
            assert _waiting_on_the_fence(c.engine), "the second writer did not wait"
            time.sleep(0.3)
            assert thread.is_alive(), "the second writer went through A's open publish"
        finally:
            paused.release.set()
        paused.thread.join(30)
        thread.join(30)
        assert paused.error is None and errors == [], (paused.error, errors)
        if second == "claim":  # B claimed after A published: B publishes normally
            b.write(MAPPING.rows(fence_cases._data(b_window, 2)))
        a.drop_staging()
        b.drop_staging()
        names = {row[0]: row[3] for row in table_rows(c.engine)}
        for r in fence_cases._data(b_window, 2):
            assert names[r["id"]] == r["customer"]["name"]
        if second == "disjoint_publish":
            for r in fence_cases._data(window(1, 2), 1):
                assert names[r["id"]] == r["customer"]["name"]
        assert len(names) == len(recs(range(10), 0))
