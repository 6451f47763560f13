"""The run context: everything a job may know about its run, built once, frozen.

Jobs never mutate the context. The two live parts it carries are deliberately
separate objects: `Connections` (opens connectors on first use, closes them all
at the end of the run) and `RunCounters` (rows read/written, for the ledger, the
progress display and the summary).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from etl_framework.exceptions import ConfigError
from etl_framework.window import Window, WriteMode

if TYPE_CHECKING:
    from pydantic import BaseModel

    from etl_framework.config import FrameworkConfig
    from etl_framework.connections import Connector
    from etl_framework.state.handle import LedgerHandle

C = TypeVar("C", bound="Connector")


@dataclass(frozen=True)
class CountersMark:
    """The extra counters of a run at one moment (`RunCounters.mark`)."""

    values: Mapping[str, float]
    added: Mapping[str, int]


class RunCounters:
    """Thread-safe row counters of one run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows_read = 0
        self.rows_written = 0
        self.started = time.monotonic()
        self.extra: dict[str, float] = {}
        self._added: dict[str, int] = {}
        """How often each extra counter was added to: a step that added 0 added to it."""

    def add_read(self, n: int = 1) -> None:
        with self._lock:
            self.rows_read += n

    def add_written(self, n: int = 1) -> None:
        with self._lock:
            self.rows_written += n

    def add(self, name: str, value: float) -> None:
        """Accumulate any other number worth recording (e.g. bytes billed)."""
        with self._lock:
            self.extra[name] = self.extra.get(name, 0) + value
            self._added[name] = self._added.get(name, 0) + 1

    def mark(self) -> CountersMark:
        """Where the extra counters stand now (for `added_since`)."""
        with self._lock:
            return CountersMark(dict(self.extra), dict(self._added))

    def added_since(self, mark: CountersMark) -> dict[str, float]:
        """What was added to each extra counter since ``mark`` (only the counters
        added to since: a counter nothing reported stays absent, not 0)."""
        with self._lock:
            return {
                name: self.extra[name] - mark.values.get(name, 0)
                for name, times in self._added.items()
                if times != mark.added.get(name, 0)
            }

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Connections:
    """The run's connectors by config name, opened on first use, closed together."""

    def __init__(self, configs: Mapping[str, Any]) -> None:
        self._configs = dict(configs)
        self._open: dict[str, Connector] = {}
        self._lock = threading.Lock()

    def get(self, name: str, kind: type[C] | None = None) -> C:
        """The open connector named ``name`` (optionally checked to be a ``kind``)."""
        from etl_framework.connections import build_connector

        with self._lock:
            connector = self._open.get(name)
            if connector is None:
                if name not in self._configs:
                    known = ", ".join(sorted(self._configs)) or "none"
                    raise ConfigError(
                        f"no connection named {name!r} in config: known connections: {known}"
                    )
                connector = build_connector(name, self._configs[name])
                connector.open()
                self._open[name] = connector
        if kind is not None and not isinstance(connector, kind):
            raise ConfigError(
                f"connection {name!r} is a {type(connector).__name__}, expected {kind.__name__}"
            )
        return connector  # type: ignore[return-value]

    __getitem__ = get

    def close_all(self) -> list[tuple[str, BaseException]]:
        """Close every opened connector; return the errors instead of raising."""
        errors: list[tuple[str, BaseException]] = []
        with self._lock:
            for name, connector in reversed(list(self._open.items())):
                try:
                    connector.close()
                except Exception as exc:  # one failing close must not skip the others
                    errors.append((name, exc))
            self._open.clear()
        return errors


def _null_ledger() -> LedgerHandle:
    from etl_framework.state.handle import NullLedger

    return NullLedger()


@dataclass(frozen=True)
class RunContext:
    """What a job knows about its run. Built once by the runner; never mutated."""

    transfer: str
    execution_date: dt.date
    mode: WriteMode
    window: Window
    run_id: str
    config: FrameworkConfig
    options: BaseModel | None = None
    """The transfer's validated options (``transfers.<name>`` in config): the runner
    always sets them; None only in a context built by hand (the job then uses its model's
    defaults). A job reads them typed as ``self.options``."""
    connections: Connections = field(default_factory=lambda: Connections({}))
    logger: logging.LoggerAdapter[logging.Logger] = field(
        default_factory=lambda: logging.LoggerAdapter(logging.getLogger("etl_framework.job"), {})
    )
    counters: RunCounters = field(default_factory=RunCounters)
    active_run_ids: frozenset[str] = frozenset()
    """Other runs of this transfer holding live leases: leave their staging alone."""
    fence_token: int = 0
    """This run's fencing token, issued with its lease; it only grows from lease to
    lease. The warehouse fence refuses a publish whose token is older than one that
    claimed an overlapping window of the same target (0: no ledger, no fencing)."""
    ledger: LedgerHandle = field(default_factory=_null_ledger)
    """The run ledger as this run sees it (staging records, reconciliation)."""
