"""Every error etl_framework raises, and the exit code each one maps to.

The tree (exit code in brackets)::

    ETLError                       root of everything we raise
    ├── UsageError [2]             bad command line; nothing was touched
    │   ├── InvalidDateError
    │   ├── UnknownTransferError   (also a KeyError) lists close matches
    │   ├── UnsupportedModeError
    │   └── InvalidWindowError
    ├── ConfigError [3]            unreadable/invalid config, missing env var or secret
    │   ├── ConfigValidationError  carries every problem found, each with its path
    │   ├── TemplateError          a SQL template failed to render (names template and line)
    │   └── AccessDeniedError      a database or file refuses writes: read-only, permission denied
    ├── LeaseHeldError [4]         another run holds the transfer/window lease
    │   └── FencedOutError         this run lost its lease: a newer run took the target over
    ├── JobError [1]               the job failed (terminal: retrying will not help)
    │   ├── TerminatedError        SIGTERM/SIGINT arrived during the run
    │   ├── GuardError             a pre-publish guard refused the new data
    │   ├── SchemaMismatchError    target table disagrees with the field mapping
    │   └── SourceError            the source answered with something unusable
    ├── OutOfSpaceError [5]        disk full or quota exceeded: retried once space is freed
    ├── TransientError [75]        worth a retry (timeouts, 503s, lost connections)
    │   ├── SourceUnavailableError
    │   ├── UpstreamNotReadyError  an upstream transfer has not covered the window yet
    │   └── NoDataYetError         the source has nothing for the window yet; nothing published
    └── RegistryError [1]          programming error in the transfer registry

Failures of the environment rather than of the data have one code per kind, whoever
reports them (SQLite, PostgreSQL, BigQuery, the file system; see
`etl_framework.failures`): read-only and permission denied are refusals (3: retrying
cannot help until someone changes grants or mounts), out of space and over quota are
`OutOfSpaceError` (5: retryable once space or quota is freed).

Exceptions take structured arguments, keep them as attributes and build their
message themselves, so callers never format error text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of `pipeline`. Orchestrators key retries off them."""

    OK = 0
    FAILED = 1
    USAGE = 2
    CONFIG = 3
    LEASE_HELD = 4
    OUT_OF_SPACE = 5
    TRANSIENT = 75  # EX_TEMPFAIL from sysexits.h


class ETLError(Exception):
    """Root of every error raised by etl_framework."""

    exit_code: ExitCode = ExitCode.FAILED


# --- usage -----------------------------------------------------------------


class UsageError(ETLError):
    """The command line is wrong; nothing was touched."""

    exit_code = ExitCode.USAGE


class InvalidDateError(UsageError):
    def __init__(self, value: str, *, param: str = "date") -> None:
        self.value = value
        self.param = param
        super().__init__(f"invalid {param} {value!r}: expected YYYYMMDD or YYYY-MM-DD")


def close_matches(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Names from `choices` that look like `name`, best first."""
    return difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)


class UnknownTransferError(UsageError, KeyError):
    def __init__(
        self,
        name: str,
        known: Iterable[str],
        import_errors: Mapping[str, str] | None = None,
        *,
        searched: str = "",
    ) -> None:
        self.name = name
        self.searched = searched
        self.known = sorted(known)
        self.suggestions = close_matches(name, self.known)
        self.import_errors = dict(import_errors or {})
        if self.suggestions:
            hint = "did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        elif self.known:
            hint = "known transfers: " + ", ".join(self.known)
        else:
            hint = "no transfers are registered"
        if self.import_errors:
            hint += (
                " (not importable: "
                + "; ".join(
                    f"{module}: {reason}" for module, reason in sorted(self.import_errors.items())
                )
                + ")"
            )
        if searched:
            hint += f"; searched {searched}"
        super().__init__(f"unknown transfer {name!r}: {hint}")

    def __str__(self) -> str:  # KeyError would quote the message again
        return str(self.args[0])


class UnsupportedModeError(UsageError):
    def __init__(self, transfer: str, mode: str, supported: Iterable[str]) -> None:
        self.transfer = transfer
        self.mode = mode
        self.supported = sorted(supported)
        super().__init__(
            f"transfer {transfer!r} does not support mode {mode!r}: "
            f"supported modes are {', '.join(self.supported)}"
        )


class InvalidWindowError(UsageError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# --- configuration ---------------------------------------------------------


class ConfigError(ETLError):
    """The configuration cannot be read or is invalid."""

    exit_code = ExitCode.CONFIG


def missing_extra_error(package: str, extra: str) -> ConfigError:
    """The error to raise when an optional dependency is not installed: names the extra."""
    return ConfigError(f"{package} is not installed: pip install 'etl_framework[{extra}]'")


class ConfigValidationError(ConfigError):
    """Every problem found in a configuration, each as (path, message)."""

    def __init__(self, location: str, problems: Sequence[tuple[str, str]]) -> None:
        self.location = location
        self.problems = list(problems)
        listed = "; ".join(f"{path}: {msg}" for path, msg in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid config {location}: {count} {noun}: {listed}")


class AccessDeniedError(ConfigError):
    """A database or the file system refuses what the run must do (exit 3, not retryable).

    ``kind`` is ``read-only`` (SQLite read-only file, PostgreSQL 25006, EROFS) or
    ``permission denied`` (PostgreSQL 42501, SQLite SQLITE_PERM, EACCES/EPERM).
    """

    def __init__(self, what: str, kind: str, detail: str) -> None:
        self.what = what
        self.kind = kind
        self.detail = detail
        super().__init__(f"{what} refused ({kind}): {detail}")


class TemplateError(ConfigError):
    """A SQL template (e.g. a transform's ``where_clause``) failed to compile or render:
    raised before the run touches anything."""

    def __init__(self, template: str, line: int | None, detail: str) -> None:
        self.template = template
        self.line = line
        self.detail = detail
        where = f"{template} line {line}" if line else template
        super().__init__(f"template {where}: {detail}")


# --- resources -------------------------------------------------------------


class OutOfSpaceError(ETLError):
    """Disk full or quota exceeded (exit 5): retryable once space or quota is freed.

    ``kind`` is ``out of space`` (SQLite SQLITE_FULL, PostgreSQL 53100, ENOSPC) or
    ``quota exceeded`` (EDQUOT, BigQuery ``quotaExceeded``).
    """

    exit_code = ExitCode.OUT_OF_SPACE

    def __init__(self, what: str, kind: str, detail: str) -> None:
        self.what = what
        self.kind = kind
        self.detail = detail
        super().__init__(f"{what} failed ({kind}): {detail}")


# --- lease -----------------------------------------------------------------


class LeaseHeldError(ETLError):
    exit_code = ExitCode.LEASE_HELD

    def __init__(self, transfer: str, window: str, holder_run_id: str, holder_host: str) -> None:
        self.transfer = transfer
        self.window = window
        self.holder_run_id = holder_run_id
        self.holder_host = holder_host
        super().__init__(
            f"transfer {transfer!r} window {window} is leased by run {holder_run_id} "
            f"on {holder_host}; try again when it ends"
        )


class FencedOutError(LeaseHeldError):
    """This run's lease was taken over (or a newer run claimed its target): it must not
    publish. Raised before or inside the publish transaction, which then rolls back."""

    def __init__(self, target: str, taken_over_by: str, *, detail: str = "") -> None:
        self.target = target
        self.taken_over_by = taken_over_by
        self.holder_run_id = taken_over_by
        self.detail = detail
        ETLError.__init__(
            self,
            f"fenced out of {target}: run {taken_over_by} took it over; nothing was published"
            + (f" ({detail})" if detail else ""),
        )


# --- job failures ----------------------------------------------------------


class JobError(ETLError):
    """The job failed; retrying with the same input will fail again."""

    exit_code = ExitCode.FAILED


class TerminatedError(JobError):
    """A termination signal arrived while the job was running."""

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(f"run terminated by {signal_name}")


class GuardError(JobError):
    def __init__(self, guard: str, detail: str) -> None:
        self.guard = guard
        self.detail = detail
        super().__init__(f"guard {guard!r} refused to publish: {detail}")


class SchemaMismatchError(JobError):
    def __init__(self, table: str, detail: str) -> None:
        self.table = table
        self.detail = detail
        super().__init__(f"target table {table!r} does not match the field mapping: {detail}")


class SourceError(JobError):
    """The source answered, but with something we cannot use (malformed page...)."""


class TransientError(ETLError):
    """Worth retrying later: the failure is in the environment, not in the data."""

    exit_code = ExitCode.TRANSIENT


class SourceUnavailableError(TransientError):
    """The source could not be reached or kept failing after retries."""


class UpstreamNotReadyError(TransientError):
    """An upstream transfer (``depends_on``) has no succeeded run covering the window
    yet (exit 75: an orchestrator retries later). ``first_day``/``last_day`` inclusive."""

    def __init__(self, upstream: str, first_day: str, last_day: str) -> None:
        self.upstream = upstream
        self.first_day = first_day
        self.last_day = last_day
        super().__init__(f"upstream {upstream} has not covered {first_day}..{last_day} yet")


class NoDataYetError(TransientError):
    """The source has nothing for the window yet and declares that this means "not
    ready" (exit 75, nothing published): an orchestrator retries later."""

    def __init__(self, transfer: str, window: str) -> None:
        self.transfer = transfer
        self.window = window
        super().__init__(
            f"no data yet for {transfer} window {window}: nothing was published; retry later"
        )


class RegistryError(ETLError):
    """A transfer was registered wrongly (e.g. the same name twice)."""
