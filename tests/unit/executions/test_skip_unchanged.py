"""Change detection in the runner: the fingerprint of a run's inputs and
``--skip-unchanged``, on a SQLite ledger (the demo through the CLI:
tests/integration/test_change_detection.py)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tests.support.sample_jobs  # noqa: F401  registers trace_job
from etl_framework import register
from etl_framework.config import FrameworkConfig
from etl_framework.runner import run_transfer
from etl_framework.state import RunStore
from etl_framework.testing import TransferHarness
from etl_framework.window import Window
from tests.support.sample_jobs import TraceJob, TraceOptions

DAY = "20240115"


@pytest.fixture
def fingerprinted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type[TraceJob]:
    """A transfer whose module lives in tmp_path/jobdir (its models: sql/*.sql there)
    and whose source fingerprint is the content of tmp_path/source.txt."""
    module = types.ModuleType("fingerprinted_job")
    module.__file__ = str(tmp_path / "jobdir" / "job.py")
    monkeypatch.setitem(sys.modules, "fingerprinted_job", module)
    (tmp_path / "jobdir" / "sql").mkdir(parents=True)
    (tmp_path / "jobdir" / "sql" / "transform.sql").write_text("select 1")
    (tmp_path / "source.txt").write_text("v1")

    class Fingerprinted(TraceJob):
        models = ("sql/*.sql",)

        @classmethod
        def source_fingerprint(
            cls, config: FrameworkConfig, options: TraceOptions, window: Window
        ) -> str | None:
            return (tmp_path / "source.txt").read_text()

    Fingerprinted.__module__ = "fingerprinted_job"
    return register("fingerprinted")(Fingerprinted)


def pipelines(trace_dir: Path) -> int:
    lines = (trace_dir / "steps.jsonl").read_text().splitlines()
    return sum(json.loads(line)["step"] == "pipeline_started" for line in lines)


def run(harness: TransferHarness, name: str, mode: str = "truncate", **kw: Any) -> Any:
    return run_transfer(name, DAY, mode, str(harness.config_path), skip_unchanged=True, **kw)


def test_identical_inputs_skip_and_each_change_runs(
    tmp_path: Path, fingerprinted: type[TraceJob]
) -> None:
    trace = tmp_path / "trace"
    harness = TransferHarness(
        tmp_path / "h", transfers={"fingerprinted": {"trace_dir": str(trace)}}
    )
    first = run(harness, "fingerprinted")
    assert (first.status, pipelines(trace)) == ("succeeded", 1)

    second = run(harness, "fingerprinted")
    assert (second.status, second.exit_code, second.unchanged_since) == ("skipped", 0, first.run_id)
    assert second.line() == f"skipped: inputs unchanged since run {first.run_id}"
    assert pipelines(trace) == 1  # the job did not run at all
    store = RunStore(harness.state_url)
    try:
        record = store.get_run(second.run_id)
        assert record is not None and record.status == "skipped"
        assert record.skip_reason == f"inputs unchanged since run {first.run_id}"
    finally:
        store.close()

    # without the flag (the transfer's default: off) it runs
    assert run_transfer("fingerprinted", DAY, "truncate", str(harness.config_path)).succeeded
    assert pipelines(trace) == 2

    (tmp_path / "jobdir" / "sql" / "transform.sql").write_text("select 2")  # a model
    assert run(harness, "fingerprinted").status == "succeeded"
    assert run(harness, "fingerprinted").status == "skipped"
    (tmp_path / "jobdir" / "sql" / "new.sql").write_text("select 3")  # a new model
    assert run(harness, "fingerprinted").status == "succeeded"
    (tmp_path / "source.txt").write_text("v2")  # the source
    assert run(harness, "fingerprinted").status == "succeeded"
    assert run(harness, "fingerprinted").status == "skipped"
    # another window has no run with these inputs yet
    assert run(harness, "fingerprinted", "delta").status == "succeeded"
    assert run(harness, "fingerprinted", "delta").status == "skipped"
    # a later truncate rewrote the delta's window: the delta runs again
    (tmp_path / "source.txt").write_text("v3")
    assert run(harness, "fingerprinted").status == "succeeded"
    (tmp_path / "source.txt").write_text("v2")
    assert run(harness, "fingerprinted", "delta").status == "succeeded"


def test_a_secret_option_is_not_in_the_fingerprint_but_a_changed_option_is(
    tmp_path: Path, fingerprinted: type[TraceJob]
) -> None:
    from etl_framework.config import load_config
    from etl_framework.executions.fingerprint import run_fingerprint
    from etl_framework.window import WriteMode

    def fingerprint(options: dict[str, Any]) -> tuple[str, bool]:
        harness = TransferHarness(tmp_path / "h", transfers={"fingerprinted": options})
        config = load_config(str(harness.config_path))
        parsed = fingerprinted.options_from(config)
        return run_fingerprint(
            fingerprinted, config, parsed, WriteMode.TRUNCATE, Window.unbounded(), "1.0"
        )

    base = {"trace_dir": "t"}
    plain = fingerprint(base)
    assert plain[1] and plain == fingerprint(base)
    assert fingerprint({**base, "rows": 4}) != plain
    dumped = fingerprinted.options_from(
        load_config(
            str(
                TransferHarness(
                    tmp_path / "s", transfers={"fingerprinted": {**base, "api_token": "hunter2"}}
                ).config_path
            )
        )
    ).model_dump(mode="json")
    assert "hunter2" not in json.dumps(dumped)


def test_without_a_source_fingerprint_it_never_skips(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    harness = TransferHarness(tmp_path / "h", transfers={"trace_job": {"trace_dir": str(trace)}})
    for _ in range(2):
        summary = run(harness, "trace_job")
        assert (summary.status, summary.unchanged_since) == ("succeeded", None)
    assert pipelines(trace) == 2
    # both recorded the same fingerprint: the source alone could not tell
    engine = sa.create_engine(harness.state_url)
    with engine.connect() as conn:
        prints = conn.execute(sa.text("SELECT fingerprint FROM etl_runs")).scalars().all()
    engine.dispose()
    assert len(prints) == 2 and prints[0] is not None and prints[0] == prints[1]
