from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from etl_framework import ETLJob, Outcome, RunContext, RunStatus, Step, Window, WriteMode
from etl_framework.config import config_from_mapping


def make_context(**fields: Any) -> RunContext:
    return RunContext(
        transfer="t",
        execution_date=dt.date(2024, 1, 15),
        mode=WriteMode.TRUNCATE,
        window=Window.unbounded(),
        run_id="run-1",
        config=config_from_mapping({}),
        **fields,
    )


class Recorder(ETLJob):
    fail_in: str | None = None
    error: BaseException = ValueError("boom")

    def __init__(self, context: RunContext) -> None:
        super().__init__(context)
        self.calls: list[str] = []
        self.outcome: Outcome | None = None

    def pre_execution_cleansing(self) -> None:
        self.calls.append("pre")
        if self.fail_in == "pre":
            raise self.error

    def pipeline(self) -> None:
        self.calls.append("pipeline")
        if self.fail_in == "pipeline":
            raise self.error

    def post_execution_cleanup(self, outcome: Outcome) -> None:
        self.calls.append("cleanup")
        self.outcome = outcome
        if self.fail_in == "cleanup":
            raise self.error


def test_abstract_steps_are_enforced() -> None:
    class Incomplete(ETLJob):
        def pipeline(self) -> None: ...

    with pytest.raises(TypeError, match="abstract"):
        Incomplete(make_context())  # type: ignore[abstract]


def test_steps_run_in_order_and_are_timed() -> None:
    job = Recorder(make_context())
    result = job.run()
    assert job.calls == ["pre", "pipeline", "cleanup"]
    assert result.succeeded and job.outcome == Outcome(RunStatus.SUCCEEDED)
    assert set(result.step_seconds) == {str(s) for s in Step}


def test_steps_record_their_rows_and_status() -> None:
    class Counting(Recorder):
        def pipeline(self) -> None:
            self.context.counters.add_read(5)
            self.context.counters.add_written(3)
            super().pipeline()

    job = Counting(make_context())
    result = job.run()
    pipeline = result.steps["pipeline"]
    assert (pipeline.rows_read, pipeline.rows_written, pipeline.succeeded) == (5, 3, True)
    cleanup = result.steps["post_execution_cleanup"]
    assert (cleanup.rows_read, cleanup.rows_written, cleanup.succeeded) == (0, 0, True)

    failing = Counting(make_context())
    failing.fail_in = "pipeline"
    steps = failing.run().steps
    assert [(name, s.succeeded) for name, s in steps.items()] == [
        ("pre_execution_cleansing", True),
        ("pipeline", False),
        ("post_execution_cleanup", True),
    ]
    assert steps["pipeline"].rows_read == 5


@pytest.mark.parametrize("step", ["pre", "pipeline"])
def test_cleanup_runs_after_failure_and_is_told_the_outcome(step: str) -> None:
    job = Recorder(make_context())
    job.fail_in = step
    result = job.run()
    assert job.calls[-1] == "cleanup"
    assert "pipeline" not in job.calls if step == "pre" else True
    assert job.outcome is not None and job.outcome.status is RunStatus.FAILED
    assert isinstance(job.outcome.error, ValueError)
    assert job.outcome.failed_step is (
        Step.PIPELINE if step == "pipeline" else Step.PRE_EXECUTION_CLEANSING
    )
    assert not result.succeeded and result.error is job.error


def test_cleanup_runs_after_keyboard_interrupt() -> None:
    job = Recorder(make_context())
    job.fail_in = "pipeline"
    job.error = KeyboardInterrupt()
    result = job.run()
    assert job.calls == ["pre", "pipeline", "cleanup"]
    assert isinstance(result.error, KeyboardInterrupt)


def test_failing_cleanup_fails_a_successful_run() -> None:
    job = Recorder(make_context())
    job.fail_in = "cleanup"
    result = job.run()
    assert not result.succeeded
    assert result.outcome.failed_step is Step.POST_EXECUTION_CLEANUP
    assert result.cleanup_error is job.error


def test_run_is_final_by_convention() -> None:
    assert getattr(ETLJob.run, "__final__", False)


def test_context_is_frozen() -> None:
    context = make_context()
    with pytest.raises(AttributeError):
        context.run_id = "other"  # type: ignore[misc]


def test_failures_log_one_line_and_the_traceback_only_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    logger = logging.LoggerAdapter(logging.getLogger("test_job_failures"))
    job = Recorder(make_context(logger=logger))
    job.fail_in = "pipeline"
    job.error = ValueError("line one\nline two")
    with caplog.at_level(logging.INFO, logger="test_job_failures"):
        job.run()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "step pipeline failed: ValueError: line one line two"
    ]
    assert not any(r.exc_info for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="test_job_failures"):
        job.run()
    assert any(r.exc_info and r.levelno == logging.DEBUG for r in caplog.records)
