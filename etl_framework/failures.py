"""Failures of the environment (space, quota, read-only, permission), one kind each.

Every backend words them differently; this module is the one place that knows the
words, so a full disk is exit 5 and a read-only database exit 3 whoever reports it:

=================  ==========================================================  ====  =========
kind               reported as                                                 exit  retryable
=================  ==========================================================  ====  =========
out of space       SQLite SQLITE_FULL, PostgreSQL 53100, OSError ENOSPC        5     yes
quota exceeded     OSError EDQUOT, BigQuery ``quotaExceeded``                  5     yes
read-only          SQLite SQLITE_READONLY, PostgreSQL 25006, OSError EROFS     3     no
permission denied  SQLite SQLITE_PERM/AUTH, PostgreSQL 42501, EACCES/EPERM     3     no
=================  ==========================================================  ====  =========

"Retryable" means an orchestrator's retry with backoff may succeed once someone (or
another job) frees space or quota; a refusal needs a change of grants or mounts first.
"""

from __future__ import annotations

import errno
from typing import Final

from etl_framework import redaction
from etl_framework.exceptions import AccessDeniedError, ETLError, OutOfSpaceError

OUT_OF_SPACE: Final = "out of space"
QUOTA_EXCEEDED: Final = "quota exceeded"
READ_ONLY: Final = "read-only"
PERMISSION_DENIED: Final = "permission denied"

_ERRNO_KINDS = {
    errno.ENOSPC: OUT_OF_SPACE,
    errno.EDQUOT: QUOTA_EXCEEDED,
    errno.EROFS: READ_ONLY,
    errno.EACCES: PERMISSION_DENIED,
    errno.EPERM: PERMISSION_DENIED,
}
_SQLSTATE_KINDS = {
    "53100": OUT_OF_SPACE,  # disk_full
    "25006": READ_ONLY,  # read_only_sql_transaction
    "42501": PERMISSION_DENIED,  # insufficient_privilege
}
_SQLITE_KINDS = {
    "SQLITE_FULL": OUT_OF_SPACE,
    "SQLITE_READONLY": READ_ONLY,
    "SQLITE_PERM": PERMISSION_DENIED,
    "SQLITE_AUTH": PERMISSION_DENIED,
}
_MESSAGE_KINDS = (  # drivers that give no code (older sqlite3, wrapped errors)
    ("database or disk is full", OUT_OF_SPACE),
    ("no space left on device", OUT_OF_SPACE),
    ("disk quota exceeded", QUOTA_EXCEEDED),
    ("attempt to write a readonly database", READ_ONLY),
    ("read-only file system", READ_ONLY),
)


def failure_kind(exc: BaseException) -> str | None:
    """The kind of environment failure ``exc`` (or a DB-API error it wraps) is, or None."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, OSError) and orig.errno in _ERRNO_KINDS:
        return _ERRNO_KINDS[orig.errno]
    sqlstate = str(getattr(orig, "sqlstate", "") or getattr(orig, "pgcode", "") or "")
    if sqlstate in _SQLSTATE_KINDS:
        return _SQLSTATE_KINDS[sqlstate]
    name = str(getattr(orig, "sqlite_errorname", "") or "")
    base = name.split("_", 2)[:2]  # SQLITE_READONLY_DBMOVED -> SQLITE_READONLY
    if "_".join(base) in _SQLITE_KINDS:
        return _SQLITE_KINDS["_".join(base)]
    if not _is_driver_error(orig):
        return None  # words in an arbitrary message (data, an API's text) prove nothing
    text = str(orig).lower()
    for words, kind in _MESSAGE_KINDS:
        if words in text:
            return kind
    return None


def _is_driver_error(exc: BaseException) -> bool:
    """An error raised by the OS or a database driver (where the words are the driver's)."""
    import sqlite3

    return isinstance(exc, OSError | sqlite3.Error) or type(exc).__module__.startswith(
        ("psycopg", "sqlalchemy")
    )


def environment_error(exc: BaseException, what: str) -> ETLError | None:
    """Our error for an environment failure of ``what`` (e.g. "database"), or None.

    Looks through the exception's causes too (a driver error wrapped by a library),
    but never replaces one of our own errors.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ETLError):
            return None
        seen.add(id(current))
        kind = failure_kind(current)
        if kind is not None:
            return error_of_kind(kind, what, current)
        current = current.__cause__ or current.__context__
    return None


def error_of_kind(kind: str, what: str, exc: BaseException) -> ETLError:
    """The error for an environment failure of ``kind``; the detail is one redacted line."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    detail = " ".join(redaction.redact(text.splitlines()[0] if text else kind).split())
    if kind in (OUT_OF_SPACE, QUOTA_EXCEEDED):
        return OutOfSpaceError(what, kind, detail)
    return AccessDeniedError(what, kind, detail)
