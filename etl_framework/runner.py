"""Run one transfer end to end: validate, lease, run the job, record, summarise.

Nothing is written anywhere (not even the ledger file) until the arguments, the
transfer, its mode and the whole config are known to be valid. `run_transfer`
raises the `ETLError` of a usage/config/lease problem; once the job has started,
it returns a `RunSummary` whose ``exit_code`` says how the job went.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from etl_framework import logs, redaction, registry, startup
from etl_framework._version import __version__
from etl_framework.config import FrameworkConfig, load_config
from etl_framework.context import Connections, RunContext, RunCounters
from etl_framework.exceptions import (
    ConfigValidationError,
    ETLError,
    ExitCode,
    FencedOutError,
    InvalidWindowError,
    TerminatedError,
    UnsupportedModeError,
    UpstreamNotReadyError,
)
from etl_framework.job import ETLJob, RunResult, RunStatus
from etl_framework.state import Heartbeat, LeaseGrant, RunStore
from etl_framework.window import ONE_DAY, Window, WriteMode, format_date, parse_date

if TYPE_CHECKING:
    from etl_framework.lineage import LineageEmitter

ENV_IMAGE_TAG = "ETL_IMAGE_TAG"
ENV_CODE_VERSION = "ETL_CODE_VERSION"
ENV_ORCHESTRATOR_RUN_ID = "ETL_ORCHESTRATOR_RUN_ID"
"""The orchestrator's id of this run (recorded in the ledger); else Airflow's
``AIRFLOW_CTX_DAG_RUN_ID``, which its Bash and Python tasks set."""


@dataclass
class RunSummary:
    """The one-line summary every run ends with (also the termination message)."""

    transfer: str
    run_id: str
    execution_date: str
    mode: str
    window: str
    status: str
    exit_code: int
    rows_read: int = 0
    rows_written: int = 0
    duration_seconds: float = 0.0
    rows_per_second: float = 0.0
    error: str | None = None
    steps: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    unchanged_since: str | None = None
    """A skipped run: the run whose inputs were the same."""

    @property
    def succeeded(self) -> bool:
        return self.exit_code == ExitCode.OK

    def line(self) -> str:
        if self.unchanged_since:
            return f"skipped: inputs unchanged since run {self.unchanged_since}"
        text = (
            f"run {self.run_id[:8]} {self.transfer} {self.mode} window {self.window}: "
            f"{self.status}, {self.rows_read:,} rows read, {self.rows_written:,} written "
            f"in {self.duration_seconds:.2f}s ({self.rows_per_second:,.0f} rows/s)"
        )
        if self.metrics:
            text += ", " + ", ".join(f"{k}={v:,.0f}" for k, v in sorted(self.metrics.items()))
        if self.error:
            text += f"; error: {self.error}"
        return redaction.redact(text)

    def to_json(self) -> str:
        return json.dumps(redaction.redact_value(asdict(self)), default=str)


@dataclass(frozen=True)
class RunRequest:
    """A validated command line."""

    job: type[ETLJob[Any]]
    execution_date: dt.date
    mode: WriteMode
    delta_start_date: dt.date | None
    config: FrameworkConfig
    skip_unchanged: bool | None = None
    """``--skip-unchanged``; None: the transfer's default (`ETLJob.skip_unchanged`)."""
    depends_on: tuple[str, ...] = ()
    """Upstream transfers whose coverage of the window is checked (class + CLI)."""
    ignore_dependencies: bool = False


def prepare(
    transfer: str,
    execution_date: str | dt.date,
    mode: str | WriteMode,
    config_location: str | FrameworkConfig,
    delta_start_date: str | dt.date | None = None,
    *,
    depends_on: tuple[str, ...] = (),
    ignore_dependencies: bool = False,
) -> RunRequest:
    """Validate everything that can be validated without touching anything."""
    day = parse_date(execution_date, param="EXECUTION_DATE")
    start = parse_date(delta_start_date, param="--delta_start_date") if delta_start_date else None
    try:
        write_mode = WriteMode(mode)
    except ValueError:
        raise UnsupportedModeError(transfer, str(mode), [m.value for m in WriteMode]) from None
    job = registry.get(transfer)
    if write_mode not in job.supported_modes:
        raise UnsupportedModeError(
            transfer, write_mode.value, [m.value for m in job.supported_modes]
        )
    window = Window.for_run(write_mode, day, start)  # raises InvalidWindowError
    config = (
        config_location
        if isinstance(config_location, FrameworkConfig)
        else load_config(config_location)
    )
    options = job.options_from(config)  # raises ConfigValidationError
    if config.lineage.transport != "none":
        from etl_framework.lineage import require_client

        require_client()  # the missing extra is a config error (exit 3), before anything
    problems = job.config_problems(config, options)
    if problems:
        raise ConfigValidationError(config.location, problems)
    job.preflight(config, options, day, write_mode, window)  # e.g. TemplateError (exit 3)
    for upstream in job.dependencies(depends_on):
        registry.get(upstream)  # an unknown upstream is a usage error (exit 2)
    return RunRequest(
        job,
        day,
        write_mode,
        start,
        config,
        depends_on=job.dependencies(depends_on),
        ignore_dependencies=ignore_dependencies,
    )


def run_transfer(
    transfer: str,
    execution_date: str | dt.date,
    mode: str | WriteMode,
    config_location: str | FrameworkConfig,
    delta_start_date: str | dt.date | None = None,
    *,
    skip_unchanged: bool | None = None,
    depends_on: tuple[str, ...] = (),
    ignore_dependencies: bool = False,
) -> RunSummary:
    """Validate, then run one transfer under its lease and record it in the ledger."""
    request = prepare(
        transfer,
        execution_date,
        mode,
        config_location,
        delta_start_date,
        depends_on=depends_on,
        ignore_dependencies=ignore_dependencies,
    )
    if skip_unchanged is not None:
        request = dataclasses.replace(request, skip_unchanged=skip_unchanged)
    return execute(request)


def execute(request: RunRequest) -> RunSummary:
    config = request.config
    job_cls = request.job
    logs.configure(config.logging.format, config.logging.level)
    store = RunStore(
        config.state.url.get_secret_value(),
        lease_ttl_seconds=config.state.lease_ttl_seconds,
        heartbeat_seconds=config.state.heartbeat_seconds,
    )
    try:
        store.ensure_schema(config.state.auto_migrate)
        startup.resume_collection()  # start-up's imports and engines are loaded
        window = _window(request, store)
        _check_dependencies(request, store, window)
        run_id = str(uuid.uuid4())
        code_version = os.environ.get(ENV_CODE_VERSION, __version__)
        fingerprint, comparable = _fingerprint(request, window, code_version)
        with _terminate_on_signals() as signals:
            # SIGTERM/SIGINT wait until the run is recorded: from then on every way out
            # of the run (a signal included) ends in finish_run, which frees the lease.
            signals.block()
            grant = store.start_run(
                run_id=run_id,
                transfer=job_cls.transfer_name,
                execution_date=request.execution_date,
                mode=request.mode,
                window=window,
                exclusive=request.mode is WriteMode.TRUNCATE or not job_cls.allow_parallel_windows,
                targets=job_cls.write_targets(config, job_cls.options_from(config)),
                config_checksum=config.checksum,
                code_version=code_version,
                image_tag=os.environ.get(ENV_IMAGE_TAG),
                fingerprint=fingerprint,
                orchestrator_run_id=_orchestrator_run_id(),
            )
            skip = request.skip_unchanged
            if skip if skip is not None else job_cls.skip_unchanged:
                # under the lease: no run of this window (or target) publishes meanwhile
                since = store.unchanged_since(run_id) if comparable else None
                if since is not None:
                    return _skipped(request, store, run_id, window, since)
            return _run_leased(request, store, run_id, window, grant, signals)
    finally:
        store.close()


def _orchestrator_run_id() -> str | None:
    found = os.environ.get(ENV_ORCHESTRATOR_RUN_ID) or os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")
    return found[:250] if found else None


def _fingerprint(request: RunRequest, window: Window, code_version: str) -> tuple[str | None, bool]:
    """The run's input fingerprint and whether it may skip the run (not when the source
    gives no fingerprint); (None, False) when it cannot be computed."""
    from etl_framework.executions.fingerprint import run_fingerprint

    job_cls = request.job
    image = os.environ.get(ENV_IMAGE_TAG)
    try:
        return run_fingerprint(
            job_cls,
            request.config,
            job_cls.options_from(request.config),
            request.mode,
            window,
            f"{code_version} {image or ''}".strip(),
        )
    except Exception as exc:  # change detection is an optimisation: the run goes on
        logs.run_logger(transfer=job_cls.transfer_name).warning(
            "no input fingerprint (the run will not be skipped): %s", describe(exc)
        )
        return None, False


def _skipped(
    request: RunRequest, store: RunStore, run_id: str, window: Window, since: str
) -> RunSummary:
    reason = f"inputs unchanged since run {since}"
    store.finish_run(
        run_id,
        status=str(RunStatus.SKIPPED),
        rows_read=0,
        rows_written=0,
        exit_code=0,
        skip_reason=reason,
    )
    summary = RunSummary(
        transfer=request.job.transfer_name,
        run_id=run_id,
        execution_date=format_date(request.execution_date),
        mode=str(request.mode),
        window=str(window),
        status=str(RunStatus.SKIPPED),
        exit_code=int(ExitCode.OK),
        unchanged_since=since,
    )
    logs.run_logger(transfer=request.job.transfer_name, run_id=run_id).info("skipped: %s", reason)
    _write_termination_log(summary)
    return summary


def _window(request: RunRequest, store: RunStore) -> Window:
    start = request.delta_start_date
    if request.mode is WriteMode.DELTA and start is None and request.job.catch_up:
        covered = store.covered_until(request.job.transfer_name)
        if covered is not None and covered <= request.execution_date:
            start = covered
    if start is not None and start > request.execution_date:
        raise InvalidWindowError(
            f"delta start date {format_date(start)} is after execution date "
            f"{format_date(request.execution_date)}"
        )
    return Window.for_run(request.mode, request.execution_date, start)


def _check_dependencies(request: RunRequest, store: RunStore, window: Window) -> None:
    """Every upstream has a succeeded run covering the window, else exit 75 (nothing was
    touched; an orchestrator retries later). ``--ignore-dependencies`` skips it."""
    if request.ignore_dependencies or not request.depends_on:
        return
    needed = request.job.dependency_window(request.execution_date, window)
    for upstream in request.depends_on:
        missing = store.uncovered(upstream, needed)
        if missing is not None and missing.start is not None and missing.end is not None:
            raise UpstreamNotReadyError(
                upstream, missing.start.isoformat(), (missing.end - ONE_DAY).isoformat()
            )


def _run_leased(
    request: RunRequest,
    store: RunStore,
    run_id: str,
    window: Window,
    grant: LeaseGrant,
    signals: _Signals,
) -> RunSummary:
    config = request.config
    job_cls = request.job
    counters = RunCounters()
    logger = logs.run_logger(
        transfer=job_cls.transfer_name,
        run_id=run_id,
        execution_date=format_date(request.execution_date),
    )
    lineage = _lineage_emitter(request, run_id, window, logger)
    if lineage is not None:
        lineage.start()
    started = time.monotonic()
    result: RunResult | None = None
    unexpected: BaseException | None = None
    connections = Connections(config.connections)
    signals.fenced_out = lambda by: FencedOutError(
        f"transfer {job_cls.transfer_name!r} window {window}",
        by or "unknown",
        detail="lease lost",
    )
    try:
        signals.unblock()  # a signal that arrived while the run started is raised here
        context = RunContext(
            transfer=job_cls.transfer_name,
            execution_date=request.execution_date,
            mode=request.mode,
            window=window,
            run_id=run_id,
            config=config,
            options=job_cls.options_from(config),
            connections=connections,
            logger=logger,
            counters=counters,
            active_run_ids=grant.active_run_ids,
            fence_token=grant.fence_token,
            ledger=store.ledger(run_id),
        )
        logger.info(
            "run started: %s %s window %s (config %s)",
            job_cls.transfer_name,
            request.mode,
            window,
            config.location,
        )
        _warn_unknown_transfer_options(config, logger)
        with (
            Heartbeat(store, run_id, on_lost=signals.lease_lost),
            logs.run_progress(counters, config.logging, logger),
        ):
            result = job_cls(context).run()
    except BaseException as exc:  # a signal between steps: still record the run
        unexpected = exc
    finally:
        signals.ignore()  # the run is over: nothing may interrupt recording it
        for name, close_error in connections.close_all():
            logger.warning("closing connection %s failed: %s", name, close_error)
    error: BaseException | None = result.error if result is not None else unexpected
    if error is not None:
        error = _translated(error)
    exit_code = ExitCode.OK if error is None else exit_code_for(error)
    duration = time.monotonic() - started
    summary = RunSummary(
        transfer=job_cls.transfer_name,
        run_id=run_id,
        execution_date=format_date(request.execution_date),
        mode=str(request.mode),
        window=str(window),
        status=str(RunStatus.SUCCEEDED if error is None else RunStatus.FAILED),
        exit_code=int(exit_code),
        rows_read=counters.rows_read,
        rows_written=counters.rows_written,
        duration_seconds=round(duration, 3),
        rows_per_second=round(counters.rows_read / duration, 1) if duration > 0 else 0.0,
        error=describe(error) if error is not None else None,
        steps=result.step_seconds if result is not None else {},
        metrics=dict(counters.extra),
    )
    try:
        recorded = store.finish_run(
            run_id,
            status=summary.status,
            rows_read=summary.rows_read,
            rows_written=summary.rows_written,
            error=summary.error,
            exit_code=summary.exit_code,
            steps=result.steps if result is not None else None,
            metrics=summary.metrics,
        )
    except ETLError as exc:
        # Retried, still failing: the ledger says "running" until the next run takes
        # this one over (its lock is free now) and, if it published, reconciles it.
        recorded = True
        summary.exit_code = int(exc.exit_code)
        summary.error = (
            f"the run ended {summary.status} but the ledger could not record it: {describe(exc)}"
        )
    if not recorded:
        # Another run took the lease over (and marked this one failed) while this one
        # was paused; it may publish the same window, so this run must not count.
        fenced = signals.fenced_out(_taken_over_by(store, run_id))
        summary.status = str(RunStatus.FAILED)
        if summary.exit_code in (ExitCode.OK, ExitCode.FAILED):
            summary.exit_code = int(fenced.exit_code)
            summary.error = describe(fenced)
    if lineage is not None:
        lineage.finish(
            succeeded=summary.succeeded,
            rows_read=summary.rows_read,
            rows_written=summary.rows_written,
            error=summary.error,
        )
    (logger.info if summary.succeeded else logger.error)("%s", summary.line())
    _write_termination_log(summary)
    return summary


def _lineage_emitter(
    request: RunRequest, run_id: str, window: Window, logger: Any
) -> LineageEmitter | None:
    """The run's OpenLineage emitter when ``lineage.transport`` is set, else None."""
    config = request.config
    if config.lineage.transport == "none":
        return None
    from etl_framework.lineage import LineageEmitter, RunFacts

    options = request.job.options_from(config)
    facts = RunFacts(
        transfer=request.job.transfer_name,
        run_id=run_id,
        mode=str(request.mode),
        execution_date=request.execution_date,
        window=window,
        inputs=request.job.lineage_inputs(config, options),
        outputs=request.job.write_targets(config, options),
    )
    return LineageEmitter(config.lineage, facts, logger)


def _taken_over_by(store: RunStore, run_id: str) -> str | None:
    try:
        return store.taken_over_by(run_id)
    except ETLError:
        return None


def _warn_unknown_transfer_options(config: FrameworkConfig, logger: Any) -> None:
    """Options for a transfer nobody registered are most likely a typo: say so."""
    import difflib

    unknown = [name for name in sorted(config.transfers) if not registry.is_known(name)]
    if not unknown:
        return
    known = registry.names()
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        logger.warning("config has options for unknown transfer %r%s", name, hint)


def _translated(error: BaseException) -> BaseException:
    """A database that was unreachable (exit 75) or refused us (exit 3), and a full disk
    or quota (exit 5) anywhere, say so."""
    from etl_framework.db import database_error
    from etl_framework.failures import environment_error

    return database_error(error, "database") or environment_error(error, "run") or error


def exit_code_for(error: BaseException) -> ExitCode:
    if isinstance(error, ETLError):
        return error.exit_code
    return ExitCode.FAILED


def describe(error: BaseException) -> str:
    # Redact the whole text before cutting it: a multi-line secret must not leave a line.
    lines = redaction.redact(str(error)).strip().splitlines()
    text = lines[0] if lines else ""
    name = type(error).__name__
    return f"{name}: {text}" if text and not isinstance(error, ETLError) else text or name


class _Signals:
    """SIGTERM (Kubernetes) and SIGINT as `TerminatedError` inside the run.

    `block` holds them back (the first one is kept pending), `unblock` raises a pending
    one, `ignore` drops every later one so the run's record is always written. The
    heartbeat calls `lease_lost` when another run took the lease over; it interrupts
    the job the same way a SIGTERM does, as a `FencedOutError` (exit 4) naming that
    run. (Held back in Python, not with the signal mask: a process-directed signal may
    be delivered to any thread.)
    """

    _SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, active: bool) -> None:
        self.active = active
        self.lost: FencedOutError | None = None
        self.fenced_out: Callable[[str | None], FencedOutError] = lambda by: FencedOutError(
            "the run's lease", by or "unknown", detail="lease lost"
        )
        self.fired = threading.Event()
        self.held = False
        self.pending: int | None = None

    def handler(self, signum: int, _frame: FrameType | None) -> None:
        if self.fired.is_set():
            return
        if self.lost is not None and isinstance(sys.exc_info()[1], FencedOutError):
            # The run is already failing because the warehouse fence refused it (the
            # heartbeat learned of the takeover a moment later): nothing to interrupt.
            self.fired.set()
            return
        if self.held:
            self.pending = self.pending or signum
            return
        self._raise(signum)

    def _raise(self, signum: int) -> None:
        self.fired.set()
        if self.lost is not None:
            raise self.lost
        raise TerminatedError(signal.Signals(signum).name)

    def block(self) -> None:
        self.held = True

    def unblock(self) -> None:
        self.held = False
        pending, self.pending = self.pending, None
        if pending is not None and not self.fired.is_set():
            self._raise(pending)

    def ignore(self) -> None:
        self.fired.set()
        self.held = False
        self.pending = None

    def lease_lost(self, taken_over_by: str | None) -> None:
        if not self.active:
            return
        self.lost = self.fenced_out(taken_over_by)
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to the main thread, like Kubernetes'


@contextmanager
def _terminate_on_signals() -> Iterator[_Signals]:
    """Install the `_Signals` handlers for the run (main thread only)."""
    active = threading.current_thread() is threading.main_thread()
    signals = _Signals(active)
    if not active:
        yield signals
        return
    previous = {sig: signal.signal(sig, signals.handler) for sig in _Signals._SIGNALS}
    try:
        yield signals
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _write_termination_log(summary: RunSummary) -> None:
    """Kubernetes shows this file's content as the container's termination message."""
    from etl_framework.termination import write_termination_log

    write_termination_log(json.loads(summary.to_json()))
