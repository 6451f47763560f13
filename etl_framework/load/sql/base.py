"""`WriteStrategy`: stage, guard, publish in one transaction, clean up.

Every strategy runs the same steps; only the publish statement differs::

    strategy = ReplaceTableStrategy(connector, "orders", mapping, run_id=ctx.run_id,
                                    ledger=ctx.ledger, fence_token=ctx.fence_token)
    strategy.claim()                   # pre_execution_cleansing: the warehouse fence,
    strategy.drop_stale_staging()      #   and staging the ledger says crashed runs left
    strategy.prepare()                 # target checked (nothing changed), staging created
    strategy.load(mapping.rows(records))   # streamed into staging (COPY / executemany)
    strategy.publish()                 # ONE transaction: fence, schema changes, guards, publish
    strategy.drop_staging()            # post_execution_cleanup, also after failure

A run killed or failing at any point before ``publish`` commits leaves the target as
it was, schema included: a missing target is created, and missing columns are added,
inside the publish transaction (or the direct load's), so a rollback takes them back.
Only a staging table remains, which the next run drops (the ledger recorded it before
it was created). Readers see the target before or after the publish transaction,
never in between.

With a fencing token (``fence_token`` > 0, issued by the ledger with the lease) the
publish transaction first checks the warehouse fence (`etl_framework.load.sql.fence`): a
run whose lease a newer run took over raises `FencedOutError` and publishes nothing.
A strategy built without a ledger gets `NullLedger` and token 0: no fence, and it
never drops a table it did not create itself.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from etl_framework.exceptions import ConfigError, GuardError, JobError, SchemaMismatchError
from etl_framework.identifiers import quote, quote_table, split_table_name, validate_identifier
from etl_framework.load import guards as _guards
from etl_framework.load.guards import GuardConfig
from etl_framework.load.sql import guards as _sql_guards
from etl_framework.load.sql.bulk import (
    DEFAULT_BATCH_SIZE,
    ProgressCallback,
    bulk_insert,
    copy_sql,
    insert_sql,
    uses_copy,
)
from etl_framework.load.sql.fence import FENCE_TABLE, SqlFence
from etl_framework.load.sql.schema import (
    SchemaCheck,
    add_column_sql,
    build_table,
    check_target,
    create_table,
    create_table_ddl,
    ensure_target,
    referencing_foreign_keys,
    table_exists,
    unique_key_exists,
)
from etl_framework.load.sql.staging import (
    StagingLock,
    drop_owned_staging,
    drop_table,
    drop_table_sql,
    staging_name,
)
from etl_framework.window import Window

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Dialect, Engine
    from sqlalchemy.sql.elements import TextClause

    from etl_framework.connectors.sql import SqlConnector
    from etl_framework.load.planned import PlannedStatement
    from etl_framework.mapping import FieldMapping
    from etl_framework.state.handle import LedgerHandle

    Statement = str | TextClause
    """A statement of a strategy: plain SQL (``exec_driver_sql``) or bound text."""

logger = logging.getLogger(__name__)


def _execute(conn: Connection, statement: Statement) -> Any:
    if isinstance(statement, str):
        return conn.exec_driver_sql(statement)
    return conn.execute(statement)


def _null_ledger() -> LedgerHandle:
    from etl_framework.state.handle import NullLedger  # not the ledger's database code

    return NullLedger()


@dataclass(frozen=True)
class PublishResult:
    """What one publish did."""

    inserted: int
    """Rows written into the target (staged rows)."""
    deleted: int = 0
    """Rows the publish removed from the target first (-1: unknown, e.g. TRUNCATE)."""


class WriteStrategy(ABC):
    """Load rows into a staging table, check guards, publish atomically."""

    name: ClassVar[str]
    """Short name used in logs and config (``replace_table``, ``merge`` ...)."""
    required_capabilities: ClassVar[frozenset[str]] = frozenset({"transactions"})
    """Connector capabilities checked in `prepare` before anything is created."""
    full_refresh: ClassVar[bool] = False
    """The publish replaces the whole target: the truncate guard defaults apply
    (``min_rows`` 1, ``min_fraction`` 0.5; see `GuardConfig.limits`)."""
    merges_on_keys: ClassVar[bool] = False
    """The publish matches rows on the key columns: NULL keys are refused."""
    supports_direct: ClassVar[bool] = False
    """Whether ``direct=True`` (no staging: one transaction from delete to commit) works."""
    direct_when_empty: ClassVar[bool] = False
    """`write` loads an empty target directly: nothing is replaced, no row is locked."""
    deletes_rows: ClassVar[bool] = False
    """The publish deletes target rows (and inserts their replacements): foreign keys
    of other tables referencing the target are checked before any data moves."""

    def __init__(
        self,
        connector: SqlConnector,
        target: str,
        mapping: FieldMapping,
        *,
        run_id: str,
        key_columns: Sequence[str] = (),
        index_columns: Sequence[str] = (),
        guards: GuardConfig | None = None,
        add_missing_columns: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        direct: bool = False,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        ledger: LedgerHandle | None = None,
        fence_token: int = 0,
        fence_window: Window | None = None,
        transfer: str = "",
    ) -> None:
        split_table_name(target)  # validates
        self.log = log or logger
        self.connector = connector
        self.target = target
        self.mapping = mapping
        self.run_id = run_id
        self.key_columns = (
            tuple(validate_identifier(k, "key column") for k in key_columns) or mapping.primary_key
        )
        for key in self.key_columns:
            mapping.field(key)
        self.index_columns = tuple(index_columns)
        self.guards = guards or GuardConfig()
        self.add_missing_columns = add_missing_columns
        self.batch_size = batch_size
        if direct and not self.supports_direct:
            raise ConfigError(f"write strategy {self.name!r} cannot publish directly (no staging)")
        self.direct = direct
        self.staging = staging_name(target, run_id)
        self.ledger: LedgerHandle = ledger if ledger is not None else _null_ledger()
        self.fence = SqlFence(
            target,
            fence_window or Window.unbounded(),
            token=fence_token,
            run_id=run_id,
            transfer=transfer,
            log=self.log,
        )
        """This run's warehouse fence on the target (token 0: disabled)."""
        self._staging_owned = False
        """This run recorded its staging table and did not find a foreign table there."""
        self.staged_rows = 0
        self.schema_check: SchemaCheck | None = None
        self._lock: StagingLock | None = None
        self._loaded = False
        self._key_enforced = False
        self._defer_foreign_keys = False

    # --- steps -------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self.connector.engine

    def check_capabilities(self) -> None:
        missing = sorted(c for c in self.required_capabilities if not self.connector.supports(c))
        if missing:
            raise ConfigError(
                f"write strategy {self.name!r} needs {', '.join(missing)}, which connection "
                f"{self.connector.name!r} ({self.connector.dialect}) does not support"
            )

    def claim(self) -> list[str]:
        """Claim the target in the warehouse fence (``pre_execution_cleansing``): raises
        `FencedOutError` at once when a newer run claimed an overlapping window. Returns
        the runs the ledger now records as succeeded because the fence shows they
        published. Does nothing with token 0."""
        return self.fence.claim(self.engine, self.ledger)

    def stale_staging(self) -> list[str]:
        """The staging of this target that the ledger recorded for runs that are gone:
        what `drop_stale_staging` drops (and ``pipeline --plan`` lists)."""
        stale = self.ledger.stale_staging(self.connector.name, self.target)
        return [n for n in stale if n != self.staging]

    def drop_stale_staging(self) -> list[str]:
        """Drop the staging of this target that the ledger recorded for runs that are
        gone; return the names dropped. Never a table the ledger did not record."""
        dropped = drop_owned_staging(self.engine, self.stale_staging())
        for name in dropped:
            self.ledger.staging_dropped(self.connector.name, name)
            self.log.warning("dropped staging table %s left by an earlier run", name)
        return dropped

    def prepare(self) -> SchemaCheck:
        """Check capabilities and the target's schema; create staging (from the mapping).

        The staging table is recorded in the ledger first, then created with a plain
        ``CREATE TABLE``: a table of that name that this run did not create is an error
        (and is left alone), never dropped.
        """
        self.prepare_target()
        self._lock = StagingLock(self.engine, self.staging)
        self._lock.acquire()
        if self._staging_owned:  # prepared before in this run: ours to replace
            with self.engine.begin() as conn:
                drop_table(conn, self.staging)
        self.ledger.record_staging(self.connector.name, self.target, self.staging)
        self._staging_owned = True
        try:
            with self.engine.begin() as conn:
                create_table(conn, build_table(self.mapping, self.staging, staging=True))
        except Exception as exc:
            with self.engine.connect() as conn:
                foreign = table_exists(conn, self.staging)
            if not foreign:
                raise
            self._staging_owned = False
            self.ledger.staging_dropped(self.connector.name, self.staging)  # not ours
            raise JobError(
                f"staging table {self.staging} already exists and was not created by this "
                "run; it is left alone (rename or drop it yourself)"
            ) from exc
        self.staged_rows = 0
        assert self.schema_check is not None
        return self.schema_check

    def prepare_target(self) -> SchemaCheck:
        """Check capabilities and the target's schema before any data moves; change nothing.

        A missing target (``created``) or missing columns (``added_columns``) are
        created inside the transaction that writes the rows (`publish`, `write_direct`),
        so a run that fails leaves the target exactly as it was, or missing.
        Once per strategy object (a run): later calls return the first result.
        """
        if self.schema_check is not None:
            return self.schema_check
        self.check_capabilities()
        with self.engine.connect() as conn:
            return self._inspect_target(conn)

    def _inspect_target(self, conn: Connection) -> SchemaCheck:
        """`prepare_target` on ``conn`` (reads only)."""
        if self.schema_check is not None:
            return self.schema_check
        check = check_target(
            conn,
            self.mapping,
            self.target,
            key_columns=self.key_columns,
            add_missing_columns=self.add_missing_columns,
        )
        self._check_target(conn, check)
        if self.deletes_rows and not check.created:
            self._check_referencing_keys(conn, check)
        # A primary key/unique constraint on the keys makes the database refuse
        # duplicates while publishing (reported as the unique_keys guard), so the
        # GROUP BY over the new rows can be skipped. Merge must check: a conflict
        # there is an update, not an error. A created target gets a primary key.
        self._key_enforced = (
            self.name != "merge"
            and bool(self.key_columns)
            and (check.created or self._has_unique_key(conn, check))
        )
        self.schema_check = check
        return check

    def _has_unique_key(self, conn: Connection, check: SchemaCheck) -> bool:
        """A primary key or unique constraint/index on exactly the key columns."""
        found = check.has_unique_key(self.key_columns)
        if found is None:
            return unique_key_exists(conn, self.target, self.key_columns)
        return found

    def _check_referencing_keys(self, conn: Connection, check: SchemaCheck) -> None:
        """Refuse foreign keys the publish's DELETE would trip or cascade along."""
        keys = check.referencing_keys
        if keys is None:
            keys = tuple(referencing_foreign_keys(conn, self.target))
        blocking = [k for k in keys if not k.can_defer]
        if blocking:
            listed = ", ".join(
                f"{k.name} of {k.table} (ON DELETE {k.on_delete.upper()}"
                f"{'' if k.deferrable else ', not deferrable'})"
                for k in blocking
            )
            raise SchemaMismatchError(
                self.target,
                f"foreign keys reference it: {listed}. {self.name} deletes the target's rows "
                "and inserts the new ones in one transaction, so a plain foreign key refuses "
                "the DELETE and ON DELETE CASCADE/SET NULL would change the referencing rows. "
                "Declare them DEFERRABLE with ON DELETE NO ACTION (checked at the commit, "
                "against the new rows), or use delta_strategy merge",
            )
        self._defer_foreign_keys = bool(keys)

    def _apply_schema(self, conn: Connection) -> None:
        """Inside the writing transaction: create the target / add columns, defer keys."""
        check = self.prepare_target()
        if check.created or check.added_columns:
            # checked again in this transaction: another run may have changed the target
            self.schema_check = ensure_target(
                conn,
                self.mapping,
                self.target,
                key_columns=self.key_columns,
                index_columns=self.index_columns,
                add_missing_columns=self.add_missing_columns,
            )
        if self._defer_foreign_keys:
            conn.exec_driver_sql(_defer_keys_sql(conn.dialect))

    def _target_table(self) -> Any:
        """The target as `ensure_target` creates it."""
        return build_table(
            self.mapping,
            self.target,
            key_columns=self.key_columns,
            index_columns=self.index_columns,
        )

    def load(
        self, rows: Iterable[Sequence[Any]], *, on_batch: ProgressCallback | None = None
    ) -> int:
        """Stream row tuples (in mapping column order) into staging, in one transaction."""
        with self.engine.begin() as conn:
            count = bulk_insert(
                conn,
                self.staging,
                self.mapping.columns,
                [f.type for f in self.mapping.fields],
                rows,
                batch_size=self.batch_size,
                on_batch=on_batch,
            )
        self.staged_rows += count
        self._loaded = True
        return count

    def publish(self) -> PublishResult:
        """Run the guards, then publish staging into the target in one transaction."""
        from sqlalchemy.exc import IntegrityError

        try:
            with self.engine.begin() as conn:
                self.fence.publish(conn)  # first: nothing is read before the fence
                self._apply_schema(conn)
                self.check_guards(conn)
                result = self._publish(conn)
        except (IntegrityError, self._dbapi_integrity_error) as exc:
            raise self._integrity_error(exc) from exc
        self.log.info(
            "published %d rows into %s (%s, %d replaced)",
            result.inserted,
            self.target,
            self.name,
            result.deleted,
        )
        return result

    def write(
        self, rows: Iterable[Sequence[Any]], *, on_batch: ProgressCallback | None = None
    ) -> PublishResult:
        """`prepare`, `load` and `publish` (staging is left for `drop_staging`).

        With ``direct=True``, or a missing or empty target and `direct_when_empty`:
        `write_direct` instead, unless columns must be added (see `_use_direct`).
        """
        if self._use_direct():
            return self.write_direct(rows, on_batch=on_batch)
        self.prepare()
        self.load(rows, on_batch=on_batch)
        return self.publish()

    def _use_direct(self, conn: Connection | None = None) -> bool:
        check = self.prepare_target()
        if check.added_columns:
            # ALTER TABLE holds an ACCESS EXCLUSIVE lock until its transaction ends:
            # with staging that is the short publish, not the whole load.
            if self.direct:
                self.log.info(
                    "adding columns to %s: publishing through staging this time",
                    self.target,
                )
            return False
        if self.direct:
            return True
        return self.direct_when_empty and (check.created or self._target_is_empty(conn))

    def _target_is_empty(self, conn: Connection | None = None) -> bool:
        if self.prepare_target().created:
            return True
        if conn is not None:
            return self._is_empty(conn)
        with self.engine.connect() as fresh:
            return self._is_empty(fresh)

    def _is_empty(self, conn: Connection) -> bool:
        row = conn.exec_driver_sql(f"SELECT 1 FROM {self._q(conn, self.target)} LIMIT 1")
        return row.first() is None

    def write_direct(
        self, rows: Iterable[Sequence[Any]], *, on_batch: ProgressCallback | None = None
    ) -> PublishResult:
        """No staging: ONE transaction deletes, streams the rows into the target, checks
        the guards on the new rows and commits (or rolls everything back).

        MVCC readers see the old rows until the commit, and a killed run's transaction
        is rolled back by the server, as with staging. The difference: the target's
        replaced rows stay locked for the whole load, so other writers and DDL on the
        target wait that long (with staging they wait only for the short publish).
        About 1.3x faster on PostgreSQL: the rows are written once, and index upkeep
        runs in the server while Python produces rows. A missing target is created in
        the same transaction. Never TRUNCATEs (that would make readers wait for the
        whole load): the replaced rows are DELETEd.
        """
        from sqlalchemy.exc import IntegrityError

        self.prepare_target()
        try:
            with self.engine.begin() as conn:
                self.fence.publish(conn)  # first: nothing is read before the fence
                self._apply_schema(conn)
                current = self._rows_to_replace(conn)
                deleted = self._clear(conn)
                count = bulk_insert(
                    conn,
                    self.target,
                    self.mapping.columns,
                    [f.type for f in self.mapping.fields],
                    self._checked_rows(rows),
                    batch_size=self.batch_size,
                    on_batch=on_batch,
                )
                where, params = self._new_rows_condition(conn.dialect)
                self._run_guards(conn, self.target, count, current, where, params)
        except (IntegrityError, self._dbapi_integrity_error) as exc:
            raise self._integrity_error(exc) from exc
        self.staged_rows = count
        result = PublishResult(inserted=count, deleted=deleted)
        self.log.info(
            "published %d rows into %s (%s, direct, %d replaced)",
            count,
            self.target,
            self.name,
            deleted,
        )
        return result

    @property
    def _dbapi_integrity_error(self) -> type[Exception]:
        """The driver's IntegrityError (the COPY/executemany paths use the raw DBAPI)."""
        dbapi = self.engine.dialect.loaded_dbapi
        error: type[Exception] = getattr(dbapi, "IntegrityError", RuntimeError)
        return error

    def _integrity_error(self, exc: Exception) -> JobError:
        """A constraint violation while publishing (the transaction was rolled back)."""
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        lowered = detail.lower()
        if self._key_enforced and ("unique" in lowered or "duplicate" in lowered):
            return GuardError(
                "unique_keys",
                f"key ({', '.join(self.key_columns)}) would occur more than once in "
                f"{self.target}; nothing was published: {detail}",
            )
        return JobError(
            f"publishing into {self.target} violated a constraint; nothing was published: {detail}"
        )

    def drop_staging(self) -> None:
        """Drop this run's staging table (if this run created it) and release its lock.
        Safe to call twice."""
        try:
            if self._staging_owned:
                with self.engine.begin() as conn:
                    drop_table(conn, self.staging)
                self._staging_owned = False
                self.ledger.staging_dropped(self.connector.name, self.staging)
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    # --- guards --------------------------------------------------------------------

    def check_guards(self, conn: Connection) -> None:
        """Every configured guard on the staged rows, inside the publish transaction."""
        # loaded by this object: we counted the rows on the way in
        staged = self.staged_rows if self._loaded else _sql_guards.count_rows(conn, self.staging)
        self._run_guards(conn, self.staging, staged, self._rows_to_replace(conn))

    @property
    def guard_limits(self) -> _guards.GuardLimits:
        """``min_rows`` and ``min_fraction`` with this strategy's defaults."""
        return self.guards.limits(full_refresh=self.full_refresh)

    def _rows_to_replace(self, conn: Connection) -> int | None:
        """The base of ``min_fraction`` (None: the guard is off or nothing is replaced)."""
        return self.replaced_rows(conn)[0] if self.guard_limits.min_fraction else None

    def _run_guards(
        self,
        conn: Connection,
        table: str,
        staged: int,
        current: int | None,
        where: str = "",
        params: dict[str, Any] | None = None,
    ) -> None:
        """The guards on the new rows: all of ``table``, or its rows matching ``where``."""
        g = self.guards
        limits = self.guard_limits
        _guards.check_min_rows(staged, limits.min_rows)
        _guards.check_min_fraction(staged, current, limits.min_fraction, self.replaced_scope)
        if self.merges_on_keys:
            _sql_guards.check_null_keys(conn, table, self.key_columns, staged)
        if g.forbid_all_null:
            unknown = set(g.all_null_allowed) - set(self.mapping.columns)
            if unknown:
                raise ConfigError(
                    "guards.all_null_allowed names unmapped columns: " + ", ".join(sorted(unknown))
                )
            _sql_guards.check_not_all_null(
                conn,
                table,
                self.mapping.columns,
                staged,
                g.all_null_allowed,
                where,
                params,
                self._bind_type,
            )
        if (
            g.unique_keys
            and self.key_columns
            and not self._publish_refuses_duplicates(conn.dialect)
        ):
            _sql_guards.check_unique_keys(
                conn, table, self.key_columns, where, params, self._bind_type
            )

    def _publish_refuses_duplicates(self, dialect: Dialect) -> bool:
        """The publish statement itself refuses duplicate keys among the new rows (and
        reports them as the ``unique_keys`` guard), so the GROUP BY query is skipped."""
        return self._key_enforced

    @property
    def replaced_scope(self) -> str:
        """What `replaced_rows` counts, for guard messages."""
        return f"table {self.target}"

    _bind_type: Any = None
    """SQLAlchemy type of the ``where`` parameters (the window column's)."""

    def replaced_rows(self, conn: Connection) -> tuple[int | None, str]:
        """How many target rows this publish replaces (None: not a replacement)."""
        statement = self._replaced_rows_statement(conn.dialect)
        if statement is None:
            return None, self.target
        return int(_execute(conn, statement).scalar_one()), self.replaced_scope

    def _replaced_rows_statement(self, dialect: Dialect) -> Statement | None:
        """The count of the target rows this publish replaces (None: not a replacement)."""
        return None

    # --- direct publish (subclasses that set supports_direct) ---------------------------

    def _clear(self, conn: Connection) -> int:
        """DELETE the rows the new ones replace; return how many (direct publish)."""
        return int(_execute(conn, self._clear_statement(conn.dialect)).rowcount)

    def _clear_statement(self, dialect: Dialect) -> Statement:
        """The DELETE of `_clear`."""
        raise NotImplementedError

    def _checked_rows(self, rows: Iterable[Sequence[Any]]) -> Iterable[Sequence[Any]]:
        """The rows, checked on the way (e.g. against the window)."""
        return rows

    def _new_rows_condition(self, dialect: Dialect) -> tuple[str, dict[str, Any]]:
        """A WHERE condition selecting exactly the new rows in the target ("": all)."""
        return "", {}

    # --- for subclasses ----------------------------------------------------------------

    def _check_target(self, conn: Connection, check: SchemaCheck) -> None:  # noqa: B027
        """Strategy-specific checks of the target before any data moves (an optional hook;
        ``check.created``: the target is missing and will be created from the mapping)."""

    @abstractmethod
    def _publish(self, conn: Connection) -> PublishResult:
        """Move staging into the target. Runs inside the publish transaction."""

    @abstractmethod
    def _publish_statements(self, dialect: Dialect) -> list[Statement]:
        """The statements `_publish` executes, in order (for `describe`)."""

    def _pre_guard_statements(self, dialect: Dialect) -> list[Statement]:
        """Checks `check_guards` runs on staging before the common guards."""
        return []

    # --- the plan (pipeline --plan) ---------------------------------------------------

    def describe(self, conn: Connection | None, dialect: Dialect) -> list[PlannedStatement]:
        """The statements a run of this strategy executes, in order, executing none:
        built by the same functions the run uses, for ``dialect``.

        ``conn`` is a read-only connection to look at the target (does it exist, lack
        columns, have keys, hold rows: that decides between direct and staged loads);
        None: a new database, where the target would be created. Row data is one line
        (COPY or executemany: rows from the source). With a fencing token the fence's
        statements are steps (their values come from the lease).
        """
        from etl_framework.load.planned import planned, step

        if conn is None:
            self.schema_check = SchemaCheck(created=True)
            self._key_enforced = self.name != "merge" and bool(self.key_columns)
        else:
            self._inspect_target(conn)
        direct = self._use_direct(conn)
        d = dialect
        out: list[PlannedStatement] = []
        if self.fence.enabled:
            out.append(
                step(
                    f"fence: claim {self.target} window {self.fence.window} in "
                    f"{FENCE_TABLE} with the lease's fencing token (own transaction)"
                )
            )
        stale = ", ".join(self.stale_staging()) or "none now"
        out.append(
            step(f"drop the staging tables the ledger recorded for runs that are gone ({stale})")
        )
        table = self.target if direct else self.staging
        if not direct and d.name == "postgresql":
            out.append(step(f"session advisory lock on {self.staging} while it exists"))
        if not direct:
            staging = build_table(self.mapping, self.staging, staging=True)
            out += [planned(sql, d, "staging table") for sql in create_table_ddl(d, staging)]
            out.append(self._rows_step(d, table))
        out.append(step("BEGIN (one transaction until COMMIT)"))
        if self.fence.enabled:
            out.append(step(f"fence: refuse if a newer run claimed {self.target}, mark published"))
        out += [planned(sql, d, "schema") for sql in self._schema_statements(d)]
        where: str = ""
        params: dict[str, Any] = {}
        if direct:
            out += self._planned_replaced(d)
            out.append(planned(self._clear_statement(d), d, "delete the rows replaced"))
            out.append(self._rows_step(d, table))
            where, params = self._new_rows_condition(d)
        else:
            out += [planned(s, d, "guard window") for s in self._pre_guard_statements(d)]
            out += self._planned_replaced(d)
        guards = self._guard_statements(d, table, where, params)
        out += [planned(s, d, f"guard {name}") for name, s in guards]
        if not direct:
            out += [planned(s, d, "publish") for s in self._publish_statements(d)]
        out.append(step("COMMIT"))
        if not direct:
            out.append(planned(drop_table_sql(d, self.staging), d, "drop this run's staging"))
        return out

    def _rows_step(self, dialect: Dialect, table: str) -> PlannedStatement:
        from etl_framework.load.planned import PlannedStatement

        columns = self.mapping.columns
        if uses_copy(dialect):
            return PlannedStatement(copy_sql(dialect, table, columns), note="rows from the source")
        return PlannedStatement(
            insert_sql(dialect, table, columns),
            note=f"executemany, rows from the source in batches of {self.batch_size}",
        )

    def _planned_replaced(self, dialect: Dialect) -> list[PlannedStatement]:
        from etl_framework.load.planned import planned

        statement = self._replaced_rows_statement(dialect)
        if statement is None or not self.guard_limits.min_fraction:
            return []
        return [planned(statement, dialect, "guard min_fraction: rows replaced")]

    def _schema_statements(self, dialect: Dialect) -> list[str]:
        """What `_apply_schema` executes, from the target check."""
        check = self.schema_check
        assert check is not None
        out: list[str] = []
        if check.created:
            out += create_table_ddl(dialect, self._target_table())
        out += [add_column_sql(dialect, self.target, self.mapping, c) for c in check.added_columns]
        if self._defer_foreign_keys:
            out.append(_defer_keys_sql(dialect))
        return out

    def _guard_statements(
        self, dialect: Dialect, table: str, where: str, params: dict[str, Any]
    ) -> list[tuple[str, Statement]]:
        """The guard queries `_run_guards` executes (rows staged: some)."""
        g = self.guards
        out: list[tuple[str, Statement]] = []
        if self.merges_on_keys and self.key_columns:
            out.append(("null_keys", _sql_guards.null_keys_sql(dialect, table, self.key_columns)))
        checked = _sql_guards.not_all_null_checked(self.mapping.columns, g.all_null_allowed)
        unknown = set(g.all_null_allowed) - set(self.mapping.columns)
        if g.forbid_all_null and unknown:
            raise ConfigError(
                "guards.all_null_allowed names unmapped columns: " + ", ".join(sorted(unknown))
            )
        if g.forbid_all_null and checked:
            out.append(
                (
                    "all_null",
                    _sql_guards.not_all_null_statement(
                        dialect, table, checked, where, params, self._bind_type
                    ),
                )
            )
        if g.unique_keys and self.key_columns and not self._publish_refuses_duplicates(dialect):
            out.append(
                (
                    "unique_keys",
                    _sql_guards.unique_keys_statement(
                        dialect, table, self.key_columns, where, params, self._bind_type
                    ),
                )
            )
        return out

    # --- SQL helpers -------------------------------------------------------------------

    def _q(self, conn: Connection, table: str) -> str:
        return quote_table(conn.dialect, table)

    def _insert_select(self, dialect: Dialect, suffix: str = "") -> str:
        cols = ", ".join(quote(dialect, c) for c in self.mapping.columns)
        return (
            f"INSERT INTO {quote_table(dialect, self.target)} ({cols}) "
            f"SELECT {cols} FROM {quote_table(dialect, self.staging)}{suffix}"
        )


def _defer_keys_sql(dialect: Dialect) -> str:
    """Foreign keys checked at the commit (against the new rows)."""
    if dialect.name == "sqlite":
        return "PRAGMA defer_foreign_keys = ON"
    return "SET CONSTRAINTS ALL DEFERRED"
