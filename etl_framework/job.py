"""`ETLJob`: the abstract base every transfer subclasses.

`run()` is the final template method: it runs ``pre_execution_cleansing`` (make
the run idempotent), ``pipeline`` (extract -> transform -> load) and, always,
``post_execution_cleanup``, which is told the `Outcome` instead of guessing. Each
step is timed and logged. Recording the run in the ledger, the lease and signal
handling live in `etl_framework.runner`, around this method.

A job is generic over its options model: ``class MyJob(ETLJob[MyOptions])`` makes
``self.options`` a ``MyOptions`` (validated from ``transfers.<name>``, defaults when
absent), typed for mypy, with no ``isinstance`` fallback. The job knows its context
and the config; neither of them knows the job.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, cast, final, get_args, get_origin

from typing_extensions import TypeVar

from etl_framework.exceptions import ConfigValidationError, RegistryError
from etl_framework.window import Window, WriteMode

if TYPE_CHECKING:
    from pydantic import BaseModel

    from etl_framework.config import FrameworkConfig
    from etl_framework.context import RunContext
    from etl_framework.options import NoOptions


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    """``--skip-unchanged``: its inputs match the window's last successful run."""

    def __str__(self) -> str:
        return self.value


class Step(enum.StrEnum):
    PRE_EXECUTION_CLEANSING = "pre_execution_cleansing"
    PIPELINE = "pipeline"
    POST_EXECUTION_CLEANUP = "post_execution_cleanup"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Outcome:
    """How the run went up to cleanup; handed to ``post_execution_cleanup``."""

    status: RunStatus
    error: BaseException | None = None
    failed_step: Step | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.SUCCEEDED


@dataclass(frozen=True)
class StepRecord:
    """One lifecycle step of a run as the ledger keeps it."""

    seconds: float
    rows_read: int
    """Rows the run's counters gained during the step."""
    rows_written: int
    succeeded: bool
    counters: Mapping[str, float] = field(default_factory=dict)
    """What the step added to the run's other counters (e.g. BigQuery costs, the
    ``bq_*`` counters); a counter nothing added to during the step is absent."""


@dataclass
class RunResult:
    """What `ETLJob.run` returns: the outcome plus a record of each step that ran."""

    outcome: Outcome
    steps: dict[str, StepRecord] = field(default_factory=dict)
    cleanup_error: BaseException | None = None

    @property
    def step_seconds(self) -> dict[str, float]:
        return {name: step.seconds for name, step in self.steps.items()}

    @property
    def error(self) -> BaseException | None:
        return self.outcome.error or self.cleanup_error

    @property
    def succeeded(self) -> bool:
        return self.outcome.succeeded and self.cleanup_error is None


# Strings: the job base imports no pydantic (``pipeline --help`` stays fast).
OptionsT = TypeVar("OptionsT", bound="BaseModel", default="NoOptions")


class ETLJob(ABC, Generic[OptionsT]):
    """Base class of a transfer. Subclass it, implement the three steps, register it.

    ``ETLJob[MyOptions]`` (a pydantic model) types ``self.options``; the options model
    is taken from that argument, or set explicitly with ``options_model``.

    Must override: `pre_execution_cleansing`, `pipeline`, `post_execution_cleanup`.
    May override: the class attributes below, `config_problems`, `write_targets`.
    Must not override: `run` (final).
    """

    # --- class attributes ------------------------------------------------------

    transfer_name: ClassVar[str] = ""
    """Set by ``@register``: the TRANSFER_NAME on the command line."""
    supported_modes: ClassVar[frozenset[WriteMode]] = frozenset(WriteMode)
    """The write modes this transfer accepts; others are a usage error (exit 2)."""
    options_model: ClassVar[type[BaseModel]]
    """The pydantic model validating ``transfers.<name>`` in config. Default: the model
    the class is parameterised with (``ETLJob[MyOptions]``), else the base class's,
    else `NoOptions` (the transfer takes none)."""
    catch_up: ClassVar[bool] = False
    """Delta without ``--delta_start_date`` starts where the last successful run ended."""
    allow_parallel_windows: ClassVar[bool] = True
    """Whether non-overlapping delta windows of this transfer may run side by side."""
    depends_on: ClassVar[tuple[str, ...]] = ()
    """Upstream transfers that must have a succeeded run covering this run's window
    (see `dependency_window`) before it starts; else exit 75. The command line adds
    more (``--depends-on``, which transfers.yaml's ``depends_on`` renders)."""

    models: ClassVar[tuple[str, ...]] = ()
    """Globs (relative to the transfer's module) of the files that define it, e.g. a
    transform's SQL: their checksums are part of the run's input fingerprint."""
    skip_unchanged: ClassVar[bool] = False
    """Default of ``pipeline --skip-unchanged``: skip a run whose inputs did not change."""

    options: OptionsT
    """This run's validated ``transfers.<name>`` options (the model's defaults if absent)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = _options_argument(cls)
        if model is None:
            if not hasattr(cls, "options_model"):
                from etl_framework.options import NoOptions

                cls.options_model = NoOptions
        elif "options_model" not in cls.__dict__:
            cls.options_model = model
        elif not issubclass(cls.options_model, model):
            raise RegistryError(
                f"{cls.__name__}.options_model {cls.options_model.__name__} is not a "
                f"{model.__name__} (the options type it is parameterised with)"
            )

    def __init__(self, context: RunContext) -> None:
        self.context = context
        options = context.options
        if options is None:  # a context built by hand: the model's defaults
            options = self.options_model.model_validate({})
        if not isinstance(options, self.options_model):
            raise TypeError(
                f"{type(self).__name__} needs options of type {self.options_model.__name__}, "
                f"got {type(options).__name__}"
            )
        # options_model is (a subclass of) OptionsT: checked at class creation.
        self.options = cast(OptionsT, options)

    @classmethod
    def option_problems(cls, config: FrameworkConfig) -> list[tuple[str, str]]:
        """(path, message) problems of ``transfers.<name>`` against `options_model`."""
        from pydantic import ValidationError

        from etl_framework.config import (
            connection_reference_problems,
            register_secret_fields,
            validation_problems,
        )
        from etl_framework.options import NoOptions

        raw = config.transfers.get(cls.transfer_name, {})
        path = f"transfers.{cls.transfer_name}"
        if cls.options_model is NoOptions:
            return [] if not raw else [(path, "this transfer takes no options")]
        try:
            options = cls.options_model.model_validate(raw)
        except ValidationError as exc:
            return validation_problems(exc, prefix=path)
        register_secret_fields(options)
        return connection_reference_problems(config, options, path)

    @classmethod
    def options_from(cls, config: FrameworkConfig) -> OptionsT:
        """``transfers.<name>`` validated with `options_model` (its defaults if absent);
        raises `ConfigValidationError` naming every problem."""
        problems = cls.option_problems(config)
        if problems:
            raise ConfigValidationError(config.location, problems)
        options = cls.options_model.model_validate(config.transfers.get(cls.transfer_name, {}))
        return cast(OptionsT, options)

    @classmethod
    def config_problems(cls, config: FrameworkConfig, options: OptionsT) -> list[tuple[str, str]]:
        """(path, message) problems this transfer finds in a valid config before the run
        touches anything, e.g. a connection it needs that is missing. Default: none."""
        return []

    @classmethod
    def write_targets(cls, config: FrameworkConfig, options: OptionsT) -> frozenset[str]:
        """Canonical keys (`etl_framework.state.targets.target_key`) of the tables this
        transfer writes. The ledger lets one run at a time write a target: a run of
        another transfer writing one of them is refused (exit 4). Default: none."""
        return frozenset()

    @classmethod
    def lineage_inputs(cls, config: FrameworkConfig, options: OptionsT) -> frozenset[str]:
        """What this transfer reads, for its OpenLineage events (`etl_framework.lineage`):
        locations (``/path/file.csv``, ``gs://bucket/prefix``, ``https://api/v1/orders``;
        no credentials, no query) or target keys of tables it reads. Default: none."""
        return frozenset()

    @classmethod
    def source_fingerprint(
        cls, config: FrameworkConfig, options: OptionsT, window: Window
    ) -> str | None:
        """A string that changes whenever the source's data for ``window`` may have
        changed (`etl_framework.sources.fingerprints.location_fingerprint` for files,
        an ETag, a user query's result), or None (default): the run never skips."""
        return None

    @classmethod
    def dependencies(cls, extra: Sequence[str] = ()) -> tuple[str, ...]:
        """`depends_on` plus ``extra`` (from the command line), each once, in order."""
        return tuple(dict.fromkeys([*cls.depends_on, *extra]))

    @classmethod
    def dependency_window(cls, execution_date: dt.date, window: Window) -> Window:
        """The window upstream transfers must have covered: a delta run's window; for
        a truncate run (unbounded), its execution date."""
        if window.start is not None and window.end is not None:
            return window
        return Window.for_days(execution_date, execution_date)

    @classmethod
    def preflight(
        cls,
        config: FrameworkConfig,
        options: OptionsT,
        execution_date: dt.date,
        mode: WriteMode,
        window: Window,
    ) -> None:
        """Checks of this run that need its date (e.g. render templates), before the run
        touches anything: raise an `ETLError` to refuse it. Default: none."""

    # --- final -----------------------------------------------------------------

    @final
    def run(self) -> RunResult:
        """Run the three steps in order; cleanup always runs and is told the outcome."""
        steps: dict[str, StepRecord] = {}
        outcome = Outcome(RunStatus.SUCCEEDED)
        step = Step.PRE_EXECUTION_CLEANSING
        try:
            self._timed(step, self.pre_execution_cleansing, steps)
            step = Step.PIPELINE
            self._timed(step, self.pipeline, steps)
        except BaseException as exc:  # also KeyboardInterrupt and TerminatedError
            outcome = Outcome(RunStatus.FAILED, exc, step)
            self._log_failure(step, exc)
        cleanup_error: BaseException | None = None
        try:
            self._timed(
                Step.POST_EXECUTION_CLEANUP, lambda: self.post_execution_cleanup(outcome), steps
            )
        except BaseException as exc:
            cleanup_error = exc
            self._log_failure(Step.POST_EXECUTION_CLEANUP, exc)
            if outcome.succeeded:
                outcome = Outcome(RunStatus.FAILED, exc, Step.POST_EXECUTION_CLEANUP)
        return RunResult(outcome, steps, cleanup_error)

    def _log_failure(self, step: Step, exc: BaseException) -> None:
        """One line at ERROR; the traceback too when the log level is DEBUG."""
        log = self.context.logger
        log.error("step %s failed: %s", step, _describe(exc), extra={"step": str(step)})
        if log.isEnabledFor(logging.DEBUG):
            log.debug("step %s traceback", step, exc_info=exc, extra={"step": str(step)})

    def _timed(self, step: Step, func: Callable[[], None], steps: dict[str, StepRecord]) -> None:
        log = self.context.logger
        counters = self.context.counters
        log.info("step %s started", step, extra={"step": str(step)})
        read, written = counters.rows_read, counters.rows_written
        mark = counters.mark()
        started = time.monotonic()
        succeeded = False
        try:
            func()
            succeeded = True
        finally:
            steps[str(step)] = StepRecord(
                seconds=round(time.monotonic() - started, 3),
                rows_read=counters.rows_read - read,
                rows_written=counters.rows_written - written,
                succeeded=succeeded,
                counters=counters.added_since(mark),
            )
        log.info(
            "step %s finished in %.3fs", step, steps[str(step)].seconds, extra={"step": str(step)}
        )

    # --- abstract --------------------------------------------------------------

    @abstractmethod
    def pre_execution_cleansing(self) -> None:
        """Make the run idempotent: remove what an earlier crashed run left behind."""

    @abstractmethod
    def pipeline(self) -> None:
        """Extract, transform and load. Publish atomically, or not at all."""

    @abstractmethod
    def post_execution_cleanup(self, outcome: Outcome) -> None:
        """Release this run's temporary resources. Runs after success and failure alike."""


def _options_argument(cls: type) -> type[BaseModel] | None:
    """The options model ``cls`` is parameterised with, e.g. ``Opts`` of
    ``class J(TableTransferJob[Opts])`` (None: not parameterised here)."""
    from pydantic import BaseModel

    for base in cls.__dict__.get("__orig_bases__", ()):
        origin = get_origin(base)
        if not (isinstance(origin, type) and issubclass(origin, ETLJob)):
            continue
        for arg in get_args(base):  # the other parameter a base may have is a strategy
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # one line, whatever the exception's message holds
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
