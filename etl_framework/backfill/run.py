"""Run a backfill's windows as ``pipeline`` subprocesses, with progress and a summary."""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from etl_framework import redaction
from etl_framework.backfill.plan import Journal
from etl_framework.exceptions import ExitCode
from etl_framework.termination import ENV_TERMINATION_LOG
from etl_framework.window import WriteMode, format_date

PR_SET_PDEATHSIG = 1


@dataclass
class WindowResult:
    day: str
    status: str
    exit_code: int
    seconds: float
    rows_read: int = 0
    rows_written: int = 0
    run_id: str | None = None
    error: str | None = None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the window's pipeline gets SIGTERM when the backfill dies (even by
    SIGKILL), so it records itself failed and frees its lease instead of running on."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Backfill:
    """Run ``days`` of ``transfer`` in ``mode``, ``parallel`` at a time."""

    def __init__(
        self,
        transfer: str,
        config_location: str,
        days: list[dt.date],
        *,
        mode: WriteMode,
        journal: Journal,
        parallel: int = 1,
        keep_going: bool = False,
        log_dir: Path | None = None,
        on_result: Callable[[WindowResult, int, int], None] | None = None,
        on_start: Callable[[str], None] | None = None,
    ) -> None:
        self.transfer = transfer
        self.config_location = config_location
        self.days = days
        self.mode = mode
        self.journal = journal
        self.parallel = max(parallel, 1)
        self.keep_going = keep_going
        self.log_dir = log_dir or journal.path.with_suffix(".logs")
        self.on_result = on_result or (lambda result, done, total: None)
        self.on_start = on_start or (lambda day: None)
        self._lock = threading.Lock()

    def command(self, day: dt.date) -> list[str]:
        args = [sys.executable, "-m", "etl_framework", format_date(day), self.transfer]
        args += [self.mode.value, self.config_location]
        if self.mode is WriteMode.DELTA:
            args += ["--delta_start_date", format_date(day)]
        return args

    def run_window(self, day: dt.date) -> WindowResult:
        self.on_start(format_date(day))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="etl-backfill-") as tmp:
            summary_path = Path(tmp) / "summary.json"
            env = {**os.environ, ENV_TERMINATION_LOG: str(summary_path)}
            with (self.log_dir / f"{format_date(day)}.log").open("w") as log:
                process = subprocess.run(
                    self.command(day),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                    check=False,
                )
            summary: dict[str, Any] = {}
            if summary_path.exists():
                try:
                    summary = json.loads(summary_path.read_text())
                except ValueError:
                    summary = {}
        code = process.returncode
        error = summary.get("error")
        if code != 0 and not error:
            error = self._last_error_line(day) or f"pipeline exited {code}"
        return WindowResult(
            day=format_date(day),
            status="succeeded" if code == 0 else "failed",
            exit_code=code,
            seconds=round(time.monotonic() - started, 3),
            rows_read=int(summary.get("rows_read") or 0),
            rows_written=int(summary.get("rows_written") or 0),
            run_id=summary.get("run_id"),
            error=redaction.redact(error) if error else None,
        )

    def _last_error_line(self, day: dt.date) -> str | None:
        path = self.log_dir / f"{format_date(day)}.log"
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        if not lines:
            return None
        last = lines[-1]
        try:
            return str(json.loads(last).get("message", last))
        except (ValueError, AttributeError):
            return last

    def run(self) -> list[WindowResult]:
        """Run every day in order (``parallel`` at a time); stop starting new ones after
        a failure unless ``keep_going``. Each finished window goes to the journal."""
        results: list[WindowResult] = []
        pending = list(self.days)
        total = len(pending)
        failed = False
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            running: dict[Future[WindowResult], dt.date] = {}
            while pending or running:
                while (
                    pending
                    and len(running) < self.parallel
                    and not (failed and not self.keep_going)
                ):
                    day = pending.pop(0)
                    running[pool.submit(self.run_window, day)] = day
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    running.pop(future)
                    result = future.result()
                    self.journal.record(asdict(result))
                    results.append(result)
                    failed = failed or result.status != "succeeded"
                    self.on_result(result, len(results), total)
        return sorted(results, key=lambda r: r.day)


def exit_code(results: list[WindowResult], planned: int) -> int:
    """0 when every planned window succeeded; else the first failure's code (1 if a
    window was never started)."""
    for result in results:
        if result.exit_code != 0:
            return result.exit_code
    return int(ExitCode.OK) if len(results) == planned else int(ExitCode.FAILED)


def json_progress(stream: IO[str]) -> Callable[[WindowResult, int, int], None]:
    def emit(result: WindowResult, done: int, total: int) -> None:
        entry = {"event": "window", "done": done, "total": total, **asdict(result)}
        stream.write(json.dumps(redaction.redact_value(entry)) + "\n")
        stream.flush()

    return emit
