"""etl_framework: abstract ETL base classes for idempotent batch transfers.

Write one `ETLJob` subclass per transfer, register it with `register`, and run it
with ``pipeline EXECUTION_DATE TRANSFER_NAME truncate|delta CONFIG_LOCATION``.
"""

from etl_framework._version import __version__
from etl_framework.context import Connections, RunContext, RunCounters
from etl_framework.exceptions import (
    ConfigError,
    ConfigValidationError,
    ETLError,
    ExitCode,
    GuardError,
    JobError,
    LeaseHeldError,
    SchemaMismatchError,
    SourceError,
    SourceUnavailableError,
    TerminatedError,
    TransientError,
    UnknownTransferError,
    UsageError,
)
from etl_framework.job import ETLJob, Outcome, RunResult, RunStatus, Step
from etl_framework.registry import register
from etl_framework.window import Window, WriteMode

TMGETL = ETLJob
"""The TMGETL seed's name of the abstract base: the same class as `ETLJob`."""

__all__ = [
    "TMGETL",
    "ConfigError",
    "ConfigValidationError",
    "Connections",
    "ETLError",
    "ETLJob",
    "ExitCode",
    "GuardError",
    "JobError",
    "LeaseHeldError",
    "Outcome",
    "RunContext",
    "RunCounters",
    "RunResult",
    "RunStatus",
    "SchemaMismatchError",
    "SourceError",
    "SourceUnavailableError",
    "Step",
    "TerminatedError",
    "TransientError",
    "UnknownTransferError",
    "UsageError",
    "Window",
    "WriteMode",
    "__version__",
    "register",
]
