"""The warehouse fence: a run that lost its lease never publishes.

The ledger hands every lease a fencing token that only grows (``RunContext.fence_token``).
The ledger and the warehouse may be different databases, so the check that matters
happens in the warehouse itself, inside the transaction that changes the target:

- a small table ``etl_fence`` next to the target (in its schema) holds one row per
  (target, window) with the token and run that last claimed it, and the run that
  published it (``published_at``); NULL window bounds are unbounded;
- `SqlFence.claim` (``pre_execution_cleansing``, its own short transaction) upserts
  this run's row, refuses at once when an overlapping window already carries a larger
  token, and reconciles runs the fence shows as published but whose ledger record did
  not say so (``LedgerHandle.reconcile_published``);
- `SqlFence.publish` runs as the FIRST statements of the publish transaction (staged
  and direct alike): it serializes the target's publishers (PostgreSQL: a transaction
  advisory lock on the target; SQLite: the database write lock, taken by a write
  first), refuses with `FencedOutError` when an overlapping window carries a larger
  token (the transaction rolls back: nothing is published), and otherwise marks this
  run's row published, in the same transaction as the data change.

Windows that do not overlap never fence each other, so delta runs of disjoint windows
still publish side by side. Token 0 (no ledger) disables the fence: nothing is read or
written. The BigQuery counterpart is `etl_framework.load.bigquery.fence`; the window key and
the reconciliation loop both use are in `etl_framework.load.fence`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import weakref
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from etl_framework.exceptions import FencedOutError
from etl_framework.identifiers import split_table_name
from etl_framework.load.fence import reconcile_publishers, window_key
from etl_framework.window import Window

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from etl_framework.state.handle import LedgerHandle

logger = logging.getLogger(__name__)

_CLAIM_ATTEMPTS = 3
"""Claim passes before a publisher that keeps appearing is left to the next claim."""

FENCE_TABLE = "etl_fence"
"""The fence table's name, in the target's schema (BigQuery: ``_etl_fence``)."""


def fence_lock_key(target: str) -> int:
    """A signed 64-bit advisory lock key of a target's fence (PostgreSQL)."""
    digest = hashlib.sha1(f"etl_fence\0{target}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def fence_table(schema: str | None) -> sa.Table:
    """The ``etl_fence`` table of a schema (None: the default schema)."""
    return sa.Table(
        FENCE_TABLE,
        sa.MetaData(),
        sa.Column("target", sa.String(255), primary_key=True),
        sa.Column("window_key", sa.String(32), primary_key=True),
        sa.Column("window_start", sa.Date, nullable=True),
        sa.Column("window_end", sa.Date, nullable=True),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("transfer", sa.String(255), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True),
        schema=schema,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SqlFence:
    """The fence of one run on one target (PostgreSQL, SQLite; other dialects: the
    same statements, serialized by the row updates only)."""

    def __init__(
        self,
        target: str,
        window: Window,
        *,
        token: int,
        run_id: str,
        transfer: str = "",
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.schema, self.table_name = split_table_name(target)
        self.target = target
        self.window = window
        self.token = token
        self.run_id = run_id
        self.transfer = transfer
        self.log = log or logger
        self.table = fence_table(self.schema)

    @property
    def enabled(self) -> bool:
        """Token 0: a run without a ledger is not fenced (and writes no fence row)."""
        return self.token > 0

    # --- the two steps -------------------------------------------------------------

    def claim(self, engine: Engine, ledger: LedgerHandle) -> list[str]:
        """Claim this run's window of the target (own transaction); return the run ids
        the ledger recorded as succeeded because the fence shows they published.

        The ledger is asked first, with no warehouse transaction open: it may live in
        the warehouse's own database (one SQLite file), whose write lock the claim
        holds. Publishers that appear meanwhile are asked about on a second pass.

        Raises `FencedOutError` when an overlapping window carries a larger token.
        """
        if not self.enabled:
            return []
        reconciled: list[str] = []
        asked: set[tuple[str, str]] = set()
        for attempt in range(_CLAIM_ATTEMPTS):
            with engine.connect() as conn:
                pending = set(self._unreconciled(conn)) - asked if self._exists(conn) else set()
            reconciled += self._reconcile(sorted(pending), ledger)
            asked |= pending
            with engine.begin() as conn:
                self._serialize(conn)
                self._refuse_newer(conn)
                late = set(self._unreconciled(conn)) - asked
                if late and attempt < _CLAIM_ATTEMPTS - 1:
                    continue  # a run published since: ask the ledger about it first
                self._mark_reconciled(conn, asked)
                self._upsert(conn, published=False)
            break
        self.log.info(
            "claimed %s (window %s) with fencing token %d", self.target, self.window, self.token
        )
        return reconciled

    def publish(self, conn: Connection) -> None:
        """Inside the publish transaction, before the data changes: refuse if a newer
        run claimed an overlapping window, else mark this run's row published."""
        if not self.enabled:
            return
        self._serialize(conn)
        self._refuse_newer(conn)
        self._upsert(conn, published=True)

    # --- internals ---------------------------------------------------------------

    def _exists(self, conn: Connection) -> bool:
        """Whether the fence table exists; once seen, not asked again of this engine
        (a run's claim and publish ask it three times; a fence table is never dropped)."""
        known = _FENCE_TABLES_SEEN.setdefault(conn.engine, set())
        if self.schema in known:
            return True
        found = bool(sa.inspect(conn).has_table(FENCE_TABLE, schema=self.schema))
        if found:
            known.add(self.schema)
        return found

    def _serialize(self, conn: Connection) -> None:
        """Make this transaction the target's only fence writer until it ends (creating
        the fence table if needed). Must run before anything else in the transaction."""
        dialect = conn.dialect.name
        if dialect == "postgresql":
            _advisory_xact_lock(conn, self.target)
        elif dialect == "sqlite":
            # A write first: SQLite's write lock (deferred BEGIN) is held from here on, so
            # another publisher waits for it instead of reading a fence about to change.
            from sqlalchemy.exc import OperationalError

            try:
                self._touch(conn)
                return
            except OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
        if not self._exists(conn):
            if dialect == "postgresql":  # the targets of one schema share its fence table
                _advisory_xact_lock(conn, f"{self.schema or ''}.{FENCE_TABLE}")
            self.table.create(conn, checkfirst=True)
            self.log.info("created the fence table %s", _qualified(self.schema))

    def _touch(self, conn: Connection) -> None:
        t = self.table
        conn.execute(
            sa.update(t)
            .where(t.c.target == self.table_name, t.c.window_key == "")
            .values(token=t.c.token)
        )

    def _overlapping(self) -> Any:
        t = self.table
        condition = t.c.target == self.table_name
        if self.window.end is not None:
            condition &= sa.or_(t.c.window_start.is_(None), t.c.window_start < self.window.end)
        if self.window.start is not None:
            condition &= sa.or_(t.c.window_end.is_(None), t.c.window_end > self.window.start)
        return condition

    def _refuse_newer(self, conn: Connection) -> None:
        t = self.table
        newer = conn.execute(
            sa.select(t.c.run_id, t.c.token, t.c.transfer, t.c.window_key)
            .where(self._overlapping(), t.c.token > self.token)
            .order_by(t.c.token.desc())
            .limit(1)
        ).first()
        if newer is not None:
            run_id, token, transfer, key = newer
            raise FencedOutError(
                self.target,
                run_id,
                detail=(
                    f"fencing token {token} of {transfer or 'another transfer'} (window {key}) "
                    f"is newer than this run's {self.token}"
                ),
            )

    def _unreconciled(self, conn: Connection) -> list[tuple[str, str]]:
        """(window key, run id) of the target's rows whose publisher was not yet checked
        with the ledger (this run's own excepted)."""
        t = self.table
        rows = conn.execute(
            sa.select(t.c.window_key, t.c.run_id).where(
                t.c.target == self.table_name,
                t.c.published_at.is_not(None),
                t.c.reconciled_at.is_(None),
                t.c.run_id != self.run_id,
            )
        ).all()
        return [(key, run_id) for key, run_id in rows]

    def _reconcile(self, published: list[tuple[str, str]], ledger: LedgerHandle) -> list[str]:
        """Check the publishers the fence shows with the ledger (no warehouse
        transaction open); return those the ledger had not recorded as succeeded."""
        run_ids = list(dict.fromkeys(run_id for _key, run_id in published))
        return reconcile_publishers(run_ids, ledger, self.target, self.log)

    def _mark_reconciled(self, conn: Connection, checked: set[tuple[str, str]]) -> None:
        t = self.table
        for key, run_id in checked:
            conn.execute(
                sa.update(t)
                .where(t.c.target == self.table_name, t.c.window_key == key, t.c.run_id == run_id)
                .values(reconciled_at=_now())
            )

    def _upsert(self, conn: Connection, *, published: bool) -> None:
        t = self.table
        now = _now()
        values: dict[str, Any] = {
            "token": self.token,
            "run_id": self.run_id,
            "transfer": self.transfer,
            "window_start": self.window.start,
            "window_end": self.window.end,
            "published_at": now if published else None,
            "reconciled_at": None,
        }
        key = t.c.target == self.table_name
        key &= t.c.window_key == window_key(self.window)
        if not published:
            values["claimed_at"] = now
        updated = conn.execute(sa.update(t).where(key).values(**values)).rowcount
        if not updated:
            conn.execute(
                sa.insert(t).values(
                    target=self.table_name,
                    window_key=window_key(self.window),
                    claimed_at=now,
                    **{k: v for k, v in values.items() if k != "claimed_at"},
                )
            )


_FENCE_TABLES_SEEN: weakref.WeakKeyDictionary[Any, set[str | None]] = weakref.WeakKeyDictionary()
"""Per warehouse engine: the schemas whose fence table was seen to exist."""


def _advisory_xact_lock(conn: Connection, name: str) -> None:
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": fence_lock_key(name)})


def _qualified(schema: str | None) -> str:
    return f"{schema}.{FENCE_TABLE}" if schema else FENCE_TABLE


__all__ = ["FENCE_TABLE", "SqlFence", "fence_lock_key", "fence_table"]
