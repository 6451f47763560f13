from __future__ import annotations

import io
import json
import logging
import time

from etl_framework import logs, redaction
from etl_framework.context import RunCounters


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_lines_carry_cloud_logging_fields() -> None:
    stream = io.StringIO()
    logs.configure("auto", "INFO", stream)  # not a terminal -> JSON
    logs.run_logger(transfer="t", run_id="r1", execution_date="20240115").warning(
        "hello %s", "world", extra={"step": "pipeline"}
    )
    entry = json.loads(stream.getvalue())
    assert entry["severity"] == "WARNING" and entry["message"] == "hello world"
    assert (entry["transfer"], entry["run_id"], entry["execution_date"], entry["step"]) == (
        "t",
        "r1",
        "20240115",
        "pipeline",
    )
    assert entry["time"].endswith("+00:00")


def test_text_on_a_terminal_and_secrets_masked() -> None:
    stream = FakeTerminal()
    logs.configure("auto", "INFO", stream)
    redaction.register_secret("pa55word-xyz")
    logging.getLogger("etl_framework.x").info("connecting with pa55word-xyz")
    logging.getLogger("etl_framework.x").info("url postgresql://bob:hunter2@db/x")
    text = stream.getvalue()
    assert "pa55word-xyz" not in text and "connecting with ***" in text
    assert "bob:***@db" in text and not text.startswith("{")


def test_exceptions_are_redacted_too() -> None:
    stream = io.StringIO()
    logs.configure("json", "INFO", stream)
    redaction.register_secret("tok-abcdef")
    try:
        raise RuntimeError("bad token tok-abcdef")
    except RuntimeError:
        logging.getLogger("etl_framework.x").exception("failed")
    assert "tok-abcdef" not in stream.getvalue() and "bad token ***" in stream.getvalue()


def test_progress_line_shows_rows_and_rate(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(logs, "PROGRESS_INTERVAL_SECONDS", 0.01)
    stream = FakeTerminal()
    counters = RunCounters()
    assert logs.Progress.enabled("auto", True, stream)
    assert not logs.Progress.enabled("json", True, stream)
    with logs.Progress(counters, stream):
        counters.add_read(1500)
        counters.add_written(1200)
        time.sleep(0.1)
    assert "1,500 rows read, 1,200 written" in stream.getvalue()
    assert "rows/s" in stream.getvalue()


def test_json_extras_are_redacted_before_escaping() -> None:
    stream = io.StringIO()
    logs.configure("json", "INFO", stream)
    redaction.register_secret("pässwörd")
    redaction.register_secret('ab"cd')
    logs.run_logger(transfer="t").info(
        "x", extra={"detail": "pässwörd", "other": 'x ab"cd', "nested": {"k": ["pässwörd"]}}
    )
    entry = json.loads(stream.getvalue())
    assert (entry["detail"], entry["other"], entry["nested"]) == ("***", "x ***", {"k": ["***"]})


def test_passwords_in_urls_and_connection_strings_are_masked() -> None:
    cases = {
        "postgresql://bob:p@ss1@h/db": "postgresql://bob:***@h/db",
        "redis://:pw1234@h": "redis://:***@h",
        "https://x/y?password=abc&z=1": "https://x/y?password=***&z=1",
        "host=a password=secret1 dbname=x": "host=a password=*** dbname=x",
        "http://host:8080/a@b": "http://host:8080/a@b",  # no password here
    }
    assert {text: redaction.redact(text) for text in cases} == cases


def test_log_lines_print_above_the_live_progress(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(logs, "PROGRESS_INTERVAL_SECONDS", 0.01)
    stream = FakeTerminal()
    logs.configure("text", "INFO", stream)
    counters = RunCounters()
    with logs.Progress(counters, stream):
        counters.add_read(10)
        logging.getLogger("etl_framework.x").info("halfway there")
        time.sleep(0.05)
    text = stream.getvalue()
    assert "halfway there" in text and "rows/s" in text
    assert "\x1b[" in text  # drawn by rich on a terminal


def test_json_mode_logs_a_progress_record_every_n_seconds() -> None:
    from etl_framework.config import LoggingConfig

    stream = io.StringIO()
    logs.configure("json", "INFO", stream)
    counters = RunCounters()
    counters.add_read(5000)
    counters.add_written(4000)
    settings = LoggingConfig(format="json", progress_seconds=0.05)
    logger = logs.run_logger(transfer="t", run_id="r")
    with logs.run_progress(counters, settings, logger):
        time.sleep(0.3)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    progress = [r for r in records if r.get("event") == "progress"]
    assert len(progress) >= 3
    assert progress[-1]["rows_read"] == 5000 and progress[-1]["rows_written"] == 4000
    assert progress[-1]["rows_per_second"] > 0 and progress[-1]["transfer"] == "t"
    assert progress[-1]["message"].startswith("progress: 5,000 rows read, 4,000 written")
    quiet = LoggingConfig(format="json", progress_seconds=0)
    assert not isinstance(logs.run_progress(counters, quiet, logger), logs.ProgressLog)


def test_an_interrupt_raised_while_a_line_is_written_reaches_the_run() -> None:
    """The runner's signal handler may raise (SIGTERM, lease lost) inside a log call;
    logging would print it as a "Logging error" and drop it."""
    import pytest

    from etl_framework.exceptions import FencedOutError, TerminatedError

    handler = logs._ProgressAwareHandler(io.StringIO())
    record = logging.LogRecord("etl_framework", logging.INFO, __file__, 1, "x", None, None)
    for interrupt in (
        TerminatedError("SIGTERM"),
        FencedOutError("the run's lease", "run-2", detail="lease lost"),
    ):
        with pytest.raises(type(interrupt)):
            try:
                raise interrupt
            except Exception:
                handler.handleError(record)
    try:  # any other error while writing stays logging's business
        raise ValueError("closed stream")
    except ValueError:
        handler.handleError(record)
