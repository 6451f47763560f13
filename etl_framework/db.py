"""What the run ledger (`etl_framework.state`) and the SQL warehouse
(`etl_framework.connectors.sql`) share: engine creation, database URL checks, and the
translation of database failures into our errors (the failure kinds themselves are
owned by `etl_framework.failures`). `make_engine` builds the warehouse's engines,
`ledger_engine` the ledger's (a small pool; SQLite: ``BEGIN IMMEDIATE``).

SQLAlchemy is imported lazily.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from etl_framework import redaction
from etl_framework.exceptions import ConfigError, ETLError, TransientError
from etl_framework.failures import error_of_kind, failure_kind

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DEFAULT_POOL_PRE_PING = True
"""Whether our pooled engines check a connection before reusing it. They do so only
when it sat idle for `PING_AFTER_IDLE_SECONDS` (`ping_when_idle`), not on every
checkout: a run checks the ledger out about ten times within milliseconds."""
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "etl_idle_since"


def check_database_url(url: SecretStr) -> SecretStr:
    """A pydantic validator: ``url`` parses as a SQLAlchemy URL (value never echoed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url.get_secret_value())
    except (ArgumentError, ValueError):
        # The value may hold a password: say what is wrong, not what it is.
        raise ValueError("not a SQLAlchemy database URL (dialect+driver://...)") from None
    return url


# Refusals that retrying cannot fix, as libpq words them at connect time (no SQLSTATE).
_CONNECT_REFUSED = re.compile(
    r"FATAL:\s+(password authentication failed|database \"[^\"]*\" does not exist|"
    r"role \"[^\"]*\" does not exist|no pg_hba\.conf entry|permission denied)"
)


def database_error(exc: BaseException, what: str, *, refused: bool = False) -> ETLError | None:
    """Our error for a database failure of ``what`` (e.g. "run ledger"), or None.

    Environment failures come first, whatever the exception class (see
    `etl_framework.failures`): out of space (SQLite "database or disk is full",
    PostgreSQL 53100) is exit 5, read-only (SQLite read-only file, PostgreSQL 25006)
    and permission denied (42501) are refusals, exit 3. Otherwise a SQLAlchemy
    ``OperationalError`` (server unreachable, connection lost, deadlock, serialization
    failure) is transient (exit 75) unless retrying cannot help: authentication, a
    missing database or role (SQLSTATE 28/3D) are configuration errors (exit 3).
    ``refused=True`` treats the error as a refusal whatever it is. Anything else is
    None: the caller's own error stands.
    """
    import sqlite3

    from sqlalchemy.exc import DBAPIError, OperationalError

    orig = getattr(exc, "orig", None) or exc
    if isinstance(exc, DBAPIError) or isinstance(orig, sqlite3.Error) or hasattr(orig, "sqlstate"):
        kind = failure_kind(orig)
        if kind is not None:
            return error_of_kind(kind, what, orig)
    if not refused and not isinstance(exc, OperationalError):
        return None
    text = str(orig).strip()
    lines = redaction.redact(text).splitlines()  # redacted whole: no line of a secret left
    detail = " ".join(lines[0].split()) if lines else ""
    sqlstate = str(getattr(orig, "sqlstate", "") or "")
    if refused or sqlstate[:2] in ("28", "3D") or _CONNECT_REFUSED.search(detail):
        return ConfigError(f"{what} refused: {detail}")
    return TransientError(f"{what} unreachable: {detail}")


def _create_sqlite_directory(database: str | None) -> None:
    """Create the parent directory of a SQLite database file (not of ``:memory:``)."""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def dialect_options(url: Any) -> dict[str, Any]:
    """Engine options every engine of ours gets for the URL's dialect: for psycopg 3, no
    hstore type lookup when the engine first connects (one round trip fewer per engine,
    and a run opens up to four; no column type we map is hstore)."""
    return {"use_native_hstore": False} if url.drivername == "postgresql+psycopg" else {}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with our defaults; SQLite files get their parent directory created."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        _create_sqlite_directory(parsed.database)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
    kwargs = {**dialect_options(parsed), **kwargs}
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        hint = (
            " (pip install 'etl_framework[postgres]')"
            if parsed.get_backend_name() == "postgresql"
            else ""
        )
        raise ConfigError(
            f"the database driver for {parsed.drivername} is not available: {exc}{hint}"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        sqlite_transactions(
            engine, pragmas=("journal_mode=WAL", "busy_timeout=30000"), begin="BEGIN"
        )
    elif DEFAULT_POOL_PRE_PING:
        ping_when_idle(engine)
    return engine


def ledger_engine(url: str) -> Engine:
    """An engine for the ledger; SQLite transactions take the write lock at BEGIN.

    Raises:
        ConfigError: the URL is not usable (syntax, missing driver, unwritable directory).
    """
    from sqlalchemy.exc import ArgumentError

    try:
        return _ledger_engine(url)
    except (ArgumentError, ValueError, ImportError, OSError) as exc:
        lines = redaction.redact(str(exc)).strip().splitlines()
        detail = lines[0] if lines else ""
        raise ConfigError(
            f"state.url is not usable: {type(exc).__name__}: {detail}".rstrip(": ")
        ) from None


def _ledger_engine(url: str) -> Engine:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = sa.create_engine(parsed, pool_size=2, max_overflow=2, **dialect_options(parsed))
        if DEFAULT_POOL_PRE_PING:
            ping_when_idle(engine)
        return engine
    _create_sqlite_directory(parsed.database)
    engine = sa.create_engine(parsed, poolclass=sa.pool.NullPool)
    # the write lock at BEGIN: lease operations never deadlock on a lock upgrade
    sqlite_transactions(
        engine, pragmas=("busy_timeout=30000", "foreign_keys=ON"), begin="BEGIN IMMEDIATE"
    )
    return engine


def ping_when_idle(engine: Any, idle_seconds: float | None = None) -> None:
    """SQLAlchemy's ``pool_pre_ping``, but only for a connection that sat in the pool
    for ``idle_seconds`` (default `PING_AFTER_IDLE_SECONDS`) or more: one checked in a
    moment ago (the next ledger statement of a run's start or end) is reused without a
    round trip. A connection found dead is replaced (the pool retries the checkout on a
    new one)."""
    import time

    from sqlalchemy import event
    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "connect")
    def _connect(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        idle = PING_AFTER_IDLE_SECONDS if idle_seconds is None else idle_seconds
        if since is not None and time.monotonic() - since < idle:
            return
        record.info[_IDLE_SINCE] = time.monotonic()
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_conn)  # as pool_pre_ping does
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_conn, None):
                raise DisconnectionError(f"stale pooled connection: {exc}") from exc
            raise


def sqlite_transactions(engine: Any, *, pragmas: Sequence[str], begin: str) -> None:
    """Take SQLite transactions from pysqlite, whose own handling breaks BEGIN IMMEDIATE
    and DDL in transactions: every connection runs ``pragmas``, every transaction
    starts with ``begin`` (the ledger: ``BEGIN IMMEDIATE``, the warehouse: ``BEGIN``)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        for pragma in pragmas:
            dbapi_conn.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


__all__ = [
    "DEFAULT_POOL_PRE_PING",
    "check_database_url",
    "database_error",
    "ledger_engine",
    "make_engine",
    "ping_when_idle",
    "sqlite_transactions",
]
