"""`fetch_ahead` reports which side of its queue waited (`Waits`)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from etl_framework.http.pipeline import Waits, fetch_ahead


def _slow_chain() -> Iterator[int]:
    for i in range(5):
        time.sleep(0.05)
        yield i


def _fast_chain() -> Iterator[int]:
    yield from range(5)


def test_a_slow_source_makes_the_consumer_wait_and_never_the_chain() -> None:
    waits = Waits()
    assert list(fetch_ahead([_slow_chain], depth=10, waits=waits)) == [0, 1, 2, 3, 4]
    assert waits.for_room == 0.0  # ten places for five items: never full
    assert waits.for_pages >= 0.1  # five 50 ms pauses, the consumer blocked through them


def test_a_slow_consumer_makes_the_chains_wait_for_room() -> None:
    waits = Waits()
    got = []
    for item in fetch_ahead([_fast_chain, _fast_chain], depth=1, waits=waits):
        time.sleep(0.05)
        got.append(item)
    assert sorted(got) == sorted([*range(5), *range(5)])
    assert waits.for_room >= 0.1  # ten items through one place, 50 ms each


def test_waits_are_counted_when_the_consumer_stops_early() -> None:
    waits = Waits()
    items = fetch_ahead([_fast_chain], depth=1, waits=waits)
    assert next(items) == 0
    time.sleep(0.05)
    items.close()  # the chain, blocked on a full queue, is stopped and joined
    assert waits.for_room > 0.0
