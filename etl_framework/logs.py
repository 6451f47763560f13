"""Logging: JSON lines for Cloud Logging, readable lines and live progress on a terminal.

Every record passes through the redaction filter, so a secret registered by config
loading never reaches a log line, whichever handler writes it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
import threading
from typing import IO, Any

from etl_framework import redaction

LOGGER_NAME = "etl_framework"
RUN_FIELDS = ("transfer", "run_id", "execution_date", "step")
PROGRESS_INTERVAL_SECONDS = 0.5
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Replace registered secrets in the rendered message (and its args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redaction.redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redaction.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the fields Cloud Logging understands."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": "WARNING" if record.levelname == "WARN" else record.levelname,
            "message": record.getMessage(),
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "logger": record.name,
        }
        if record.exc_text:
            entry["message"] += "\n" + record.exc_text
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        # Redact the values before encoding: JSON escaping (quotes, backslashes,
        # non-ASCII) would hide a secret from a search in the encoded text.
        return json.dumps(redaction.redact_value(entry), default=str)


class TextFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL [transfer step] message`` for people."""

    def format(self, record: logging.LogRecord) -> str:
        time = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        where = " ".join(
            str(getattr(record, f)) for f in ("transfer", "step") if hasattr(record, f)
        )
        prefix = f"{time} {record.levelname:<7}" + (f" [{where}]" if where else "")
        text = f"{prefix} {record.getMessage()}"
        if record.exc_text:
            text += "\n" + record.exc_text
        return redaction.redact(text)


class _ProgressAwareHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Prints through the live progress display while there is one (above it)."""

    live_console: Any = None

    def emit(self, record: logging.LogRecord) -> None:
        console = self.live_console
        if console is None:
            super().emit(record)
            return
        try:
            console.print(self.format(record), markup=False, highlight=False, soft_wrap=True)
        except Exception:  # pragma: no cover - as logging.Handler.emit does
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """An interrupt the runner's signal handler raised while this line was written
        (SIGTERM, or the heartbeat's "lease lost") goes on to the run, as it would have
        anywhere else; logging would print it as a "Logging error" and drop it."""
        from etl_framework.exceptions import FencedOutError, TerminatedError

        error = sys.exc_info()[1]
        if isinstance(error, (TerminatedError, FencedOutError)):
            raise error
        super().handleError(record)


def wants_json(fmt: str, stream: IO[str]) -> bool:
    return fmt == "json" or (fmt == "auto" and not stream.isatty())


def configure(
    fmt: str = "auto", level: str = "INFO", stream: IO[str] | None = None
) -> logging.Logger:
    """Set up the ``etl_framework`` logger tree once per run (idempotent)."""
    stream = stream or sys.stderr
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = _ProgressAwareHandler(stream)
    handler.setFormatter(JsonFormatter() if wants_json(fmt, stream) else TextFormatter())
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # Transfers log through their own module loggers too; route ``jobs.*`` the same way.
    jobs_logger = logging.getLogger("jobs")
    jobs_logger.handlers = [handler]
    jobs_logger.setLevel(level)
    jobs_logger.propagate = False
    return logger


def run_logger(**fields: Any) -> logging.LoggerAdapter[logging.Logger]:
    """A logger adapter that adds the run's fields to every record."""

    class _Adapter(logging.LoggerAdapter[logging.Logger]):
        def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
            kwargs["extra"] = {**self.extra, **(kwargs.get("extra") or {})}  # type: ignore[dict-item]
            return msg, kwargs

    return _Adapter(logging.getLogger(f"{LOGGER_NAME}.run"), fields)


class _Rates:
    """The live line's content, rendered by rich at each refresh."""

    def __init__(self, counters: Any) -> None:
        self.counters = counters

    def __rich__(self) -> Any:
        from rich.text import Text

        c = self.counters
        rate = c.rows_read / c.elapsed if c.elapsed > 0 else 0.0
        return Text(
            f"  {c.rows_read:,} rows read, {c.rows_written:,} written, "
            f"{rate:,.0f} rows/s, {c.elapsed:.0f}s",
            style="cyan",
        )


class Progress:
    """A live ``rows read / written, rows/s`` line on a terminal (rich), log lines above it."""

    def __init__(self, counters: Any, stream: IO[str] | None = None) -> None:
        self._counters = counters
        self._stream = stream or sys.stderr
        self._live: Any = None

    @staticmethod
    def enabled(fmt: str, show: bool, stream: IO[str] | None = None) -> bool:
        stream = stream or sys.stderr
        return show and stream.isatty() and not wants_json(fmt, stream)

    def __enter__(self) -> Progress:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self._stream, force_terminal=True, soft_wrap=True)
        self._live = Live(
            _Rates(self._counters),
            console=console,
            refresh_per_second=1 / PROGRESS_INTERVAL_SECONDS,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()
        _ProgressAwareHandler.live_console = console
        return self

    def __exit__(self, *exc_info: Any) -> None:
        _ProgressAwareHandler.live_console = None
        self._live.stop()
        self._stream.flush()


class ProgressLog:
    """Off a terminal (JSON logs, a Kubernetes Job): a progress record every ``seconds``,
    so a long run's logs show it is alive and how fast it goes."""

    def __init__(self, counters: Any, logger: Any, seconds: float) -> None:
        self._counters = counters
        self._logger = logger
        self._seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="etl-progress-log", daemon=True)

    def __enter__(self) -> ProgressLog:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _loop(self) -> None:
        while not self._stop.wait(self._seconds):
            c = self._counters
            rate = round(c.rows_read / c.elapsed, 1) if c.elapsed > 0 else 0.0
            self._logger.info(
                "progress: %s rows read, %s written, %s rows/s",
                f"{c.rows_read:,}",
                f"{c.rows_written:,}",
                f"{rate:,.0f}",
                extra={
                    "event": "progress",
                    "rows_read": c.rows_read,
                    "rows_written": c.rows_written,
                    "rows_per_second": rate,
                    "elapsed_seconds": round(c.elapsed, 1),
                },
            )


def run_progress(counters: Any, settings: Any, logger: Any) -> Any:
    """The progress display of a run: live on a terminal, periodic log records in JSON
    mode (``logging.progress_seconds``; 0 turns them off), else nothing."""
    if Progress.enabled(settings.format, settings.progress):
        return Progress(counters)
    if settings.progress_seconds > 0 and wants_json(settings.format, sys.stderr):
        return ProgressLog(counters, logger, settings.progress_seconds)
    return contextlib.nullcontext()
