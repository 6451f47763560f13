"""An in-memory run ledger for warehouse tests: a `LedgerHandle` per run.

The warehouse under test is real (SQLite, PostgreSQL, the BigQuery emulator); only the
ledger is this double. `FakeLedger` keeps the staging records of every run and which
runs are alive, and hands out one handle per run, as the runner does::

    ledger = FakeLedger()
    first = ledger.handle("run-1")          # alive until ledger.end("run-1")
    strategy = ReplaceTableStrategy(..., run_id="run-1", ledger=first, fence_token=1)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StagingRecord:
    run_id: str
    connection: str
    target: str
    name: str
    dropped: bool = False


@dataclass
class FakeLedger:
    """The ledger's side of staging ownership and reconciliation, in memory."""

    records: list[StagingRecord] = field(default_factory=list)
    live: set[str] = field(default_factory=set)
    succeeded: set[str] = field(default_factory=set)
    reconciled: list[str] = field(default_factory=list)

    def handle(self, run_id: str) -> FakeHandle:
        self.live.add(run_id)
        return FakeHandle(self, run_id)

    def end(self, run_id: str, *, succeeded: bool = False) -> None:
        """The run finished (or died): it holds no lease any more."""
        self.live.discard(run_id)
        if succeeded:
            self.succeeded.add(run_id)

    def open_records(self) -> list[str]:
        return [r.name for r in self.records if not r.dropped]


@dataclass
class FakeHandle:
    ledger: FakeLedger
    run_id: str

    def record_staging(self, connection: str, target: str, name: str) -> None:
        self.ledger.records.append(StagingRecord(self.run_id, connection, target, name))

    def stale_staging(self, connection: str, target: str) -> list[str]:
        return [
            r.name
            for r in self.ledger.records
            if r.connection == connection
            and r.target == target
            and not r.dropped
            and r.run_id != self.run_id
            and r.run_id not in self.ledger.live
        ]

    def staging_dropped(self, connection: str, name: str) -> None:
        for r in self.ledger.records:
            if r.connection == connection and r.name == name:
                r.dropped = True

    def reconcile_published(self, run_id: str) -> bool:
        if run_id in self.ledger.succeeded:
            return False
        self.ledger.succeeded.add(run_id)
        self.ledger.reconciled.append(run_id)
        return True
