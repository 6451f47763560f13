"""What a running job may ask of the run ledger: `LedgerHandle`.

The runner gives every `RunContext` a handle bound to its run. Write strategies use
it to record the staging tables they create (so cleanup drops only what the framework
created, never a table that merely matches a name pattern) and to reconcile a run
whose data the warehouse fence shows as published while the ledger does not.
`NullLedger` is the handle of a context built without a ledger (unit tests): it
remembers this run's staging and reports no stale staging of other runs.
"""

from __future__ import annotations

from typing import Protocol


class LedgerHandle(Protocol):
    """The ledger, as seen by one run."""

    def record_staging(self, connection: str, target: str, name: str) -> None:
        """Record, before creating it, that this run creates staging table ``name``
        (of ``target``, in connection ``connection``)."""

    def stale_staging(self, connection: str, target: str) -> list[str]:
        """Staging tables of ``target`` recorded by runs that are neither this run nor
        alive, and not yet dropped: the only tables cleansing may drop."""

    def staging_dropped(self, connection: str, name: str) -> None:
        """Record that staging table ``name`` was dropped (or found missing)."""

    def reconcile_published(self, run_id: str) -> bool:
        """The warehouse fence shows ``run_id`` published: record it as succeeded if the
        ledger says otherwise. True if the ledger changed."""


class NullLedger:
    """A handle without a ledger: keeps this run's staging names in memory."""

    def __init__(self) -> None:
        self.staging: dict[tuple[str, str], str] = {}

    def record_staging(self, connection: str, target: str, name: str) -> None:
        self.staging[(connection, name)] = target

    def stale_staging(self, connection: str, target: str) -> list[str]:
        return []

    def staging_dropped(self, connection: str, name: str) -> None:
        self.staging.pop((connection, name), None)

    def reconcile_published(self, run_id: str) -> bool:
        return False
