"""Small transfers used by the core tests (imported via ETL_JOBS_MODULES in subprocesses).

Each writes what it did to files under ``options.trace_dir`` so a test in another
process can see which lifecycle steps ran and how cleanup was told the run ended.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

from etl_framework import ETLJob, Outcome, WriteMode, register
from etl_framework.exceptions import SourceUnavailableError


class TraceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace_dir: str
    sleep_seconds: float = 0.0
    fail_with: str | None = None  # "error" | "transient" | "keyboard"
    api_token: SecretStr | None = None
    rows: int = 3


class TraceJob(ETLJob[TraceOptions]):
    """Records each lifecycle step in trace_dir/steps.jsonl."""

    def _trace(self, step: str, **extra: object) -> None:
        path = Path(self.options.trace_dir)
        path.mkdir(parents=True, exist_ok=True)
        with (path / "steps.jsonl").open("a") as fh:
            fh.write(json.dumps({"step": step, "run_id": self.context.run_id, **extra}) + "\n")

    def pre_execution_cleansing(self) -> None:
        self._trace("pre_execution_cleansing", active=sorted(self.context.active_run_ids))

    def pipeline(self) -> None:
        self._trace("pipeline_started", window=str(self.context.window))
        if self.options.api_token is not None:
            self.context.logger.info("using token %s", self.options.api_token.get_secret_value())
        deadline = time.monotonic() + self.options.sleep_seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
        if self.options.fail_with == "error":
            raise ValueError("boom in pipeline")
        if self.options.fail_with == "transient":
            raise SourceUnavailableError("source answered 503 three times")
        if self.options.fail_with == "keyboard":
            raise KeyboardInterrupt
        self.context.counters.add_read(self.options.rows)
        self.context.counters.add_written(self.options.rows)
        self._trace("pipeline_finished")

    def post_execution_cleanup(self, outcome: Outcome) -> None:
        self._trace(
            "post_execution_cleanup",
            status=str(outcome.status),
            error=type(outcome.error).__name__ if outcome.error else None,
        )


@register("trace_job")
class RegisteredTraceJob(TraceJob):
    """Test transfer recording its lifecycle."""


@register("trace_delta_only")
class DeltaOnlyTraceJob(TraceJob):
    """Test transfer supporting delta only, catching up after failed days."""

    supported_modes = frozenset({WriteMode.DELTA})
    catch_up = True
