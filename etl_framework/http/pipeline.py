"""Overlap fetching with loading: chains of pages fetched in threads, one bounded queue.

`fetch_ahead` runs each *chain* (an iterator of pages: the whole source, or one date
sub-window of it, each followed page by page) in a thread of its own and hands the
pages to the consumer through one queue of at most ``depth`` pages. So while the
consumer maps and writes one page, the next ones are being fetched, verified and
parsed; a consumer slower than the API makes the chains wait (memory stays bounded
by ``depth`` pages plus one per chain), a consumer faster than the API waits for
pages.

Pages of one chain come out in their order; pages of different chains interleave in
the order they were fetched. An error in a chain is raised to the consumer when it
gets there (the pages queued before it are consumed first); stopping early (an error
in the consumer, ``close()``) tells every chain to stop and waits for it.

`Waits` (optional) adds up the seconds either side spent blocked on the queue: the
consumer waiting for a page (the API is the slower half) or the chains waiting for
room (the consumer is). `HttpSource.pages` logs them at DEBUG after the last page.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.05
"""How often a chain waiting for room in a full queue checks whether to stop."""


@dataclass
class Waits:
    """Seconds spent blocked on the queue by either side of `fetch_ahead`."""

    for_pages: float = 0.0
    """The consumer, waiting for the next item: the chains (the API) are slower."""
    for_room: float = 0.0
    """The chains together, waiting for room in a full queue: the consumer is slower."""


class _Done:
    """A chain has no more pages."""


class _Failed:
    """A chain raised ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def fetch_ahead(
    chains: Sequence[Callable[[], Iterator[T]]],
    *,
    depth: int,
    name: str = "etl-http-chain",
    waits: Waits | None = None,
) -> Generator[T, None, None]:
    """The items of every chain, each chain run in its own thread, through a queue of
    at most ``depth`` items (see the module docstring); blocked time is added to
    ``waits`` when given."""
    if not chains:
        return
    items: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    blocked = [0.0] * len(chains)  # per chain: no shared counter between threads

    def put(item: Any, chain: int) -> bool:
        try:
            items.put_nowait(item)
            return True
        except queue.Full:
            pass
        started = time.perf_counter()
        try:
            while not stop.is_set():
                try:
                    items.put(item, timeout=_POLL_SECONDS)
                    return True
                except queue.Full:
                    continue
            return False
        finally:
            blocked[chain] += time.perf_counter() - started

    def run(index: int, chain: Callable[[], Iterator[T]]) -> None:
        try:
            iterator = chain()
            try:
                for item in iterator:
                    if not put(item, index):
                        return
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc), index)
            return
        put(_Done(), index)

    def get() -> Any:
        try:
            return items.get_nowait()
        except queue.Empty:
            pass
        started = time.perf_counter()
        item = items.get()
        if waits is not None:
            waits.for_pages += time.perf_counter() - started
        return item

    threads = [
        threading.Thread(target=run, args=(i, chain), name=f"{name}-{i}", daemon=True)
        for i, chain in enumerate(chains)
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = get()
            if isinstance(item, _Done):
                running -= 1
            elif isinstance(item, _Failed):
                raise item.error
            else:
                yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        if waits is not None:
            waits.for_room += sum(blocked)
