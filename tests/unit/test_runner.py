"""The runner through the job-author test kit: ledger, lease, exit codes, secrets."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest

import tests.support.sample_jobs  # noqa: F401  registers the trace transfers
from etl_framework.exceptions import LeaseHeldError
from etl_framework.state import RunStore
from etl_framework.testing import TransferHarness
from etl_framework.window import Window, WriteMode


def steps(trace: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (trace / "steps.jsonl").read_text().splitlines()]


def harness(tmp_path: Path, **options: object) -> TransferHarness:
    opts = {"trace_dir": str(tmp_path / "trace"), **options}
    return TransferHarness(tmp_path / "h", transfers={"trace_job": opts, "trace_delta_only": opts})


def test_success_is_recorded(tmp_path: Path) -> None:
    h = harness(tmp_path, rows=7)
    summary = h.run("trace_job", "20240115", "truncate")
    assert summary.exit_code == 0 and summary.rows_written == 7
    [run] = h.runs()
    assert (run.status, run.rows_written, run.window) == ("succeeded", 7, Window.unbounded())
    assert [s["step"] for s in steps(tmp_path / "trace")] == [
        "pre_execution_cleansing",
        "pipeline_started",
        "pipeline_finished",
        "post_execution_cleanup",
    ]


@pytest.mark.parametrize(
    ("environ", "recorded"),
    [
        ({}, None),
        ({"AIRFLOW_CTX_DAG_RUN_ID": "scheduled__2024-01-15T03:00:00+00:00"}, "scheduled__"),
        ({"AIRFLOW_CTX_DAG_RUN_ID": "x", "ETL_ORCHESTRATOR_RUN_ID": "manual__1"}, "manual__1"),
    ],
)
def test_the_orchestrators_run_id_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], recorded: str | None
) -> None:
    for name in ("AIRFLOW_CTX_DAG_RUN_ID", "ETL_ORCHESTRATOR_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    h = harness(tmp_path)
    assert h.run("trace_job", "20240115", "truncate").exit_code == 0
    [run] = h.runs()
    if recorded is None:
        assert run.orchestrator_run_id is None
    else:
        assert run.orchestrator_run_id is not None
        assert run.orchestrator_run_id.startswith(recorded)


@pytest.mark.parametrize(("fail_with", "code"), [("error", 1), ("transient", 75), ("keyboard", 1)])
def test_failures_are_recorded_with_their_exit_code(
    tmp_path: Path, fail_with: str, code: int
) -> None:
    h = harness(tmp_path, fail_with=fail_with)
    summary = h.run("trace_job", "20240115", "delta")
    assert summary.exit_code == code and summary.status == "failed"
    [run] = h.runs()
    assert run.status == "failed" and run.exit_code == code and run.error
    cleanup = steps(tmp_path / "trace")[-1]
    assert cleanup["step"] == "post_execution_cleanup" and cleanup["status"] == "failed"


def _store(h: TransferHarness) -> RunStore:
    store = RunStore(h.state_url, lease_ttl_seconds=60)
    store.upgrade()
    return store


def test_a_held_lease_refuses_the_run_and_touches_nothing(tmp_path: Path) -> None:
    h = harness(tmp_path)
    store = _store(h)
    store.start_run(
        run_id="other-run",
        transfer="trace_job",
        execution_date=dt.date(2024, 1, 15),
        mode=WriteMode.TRUNCATE,
        window=Window.unbounded(),
        exclusive=True,
    )
    with pytest.raises(LeaseHeldError, match="leased by run other-run") as info:
        h.run("trace_job", "20240115", "delta")
    assert info.value.exit_code == 4
    assert not (tmp_path / "trace").exists()
    assert len(h.runs()) == 1


def test_non_overlapping_delta_windows_run_side_by_side(tmp_path: Path) -> None:
    h = harness(tmp_path)
    store = _store(h)
    store.start_run(
        run_id="jan-10",
        transfer="trace_job",
        execution_date=dt.date(2024, 1, 10),
        mode=WriteMode.DELTA,
        window=Window.for_run(WriteMode.DELTA, dt.date(2024, 1, 10)),
    )
    assert h.run("trace_job", "20240115", "delta").exit_code == 0
    # the live run's staging must be left alone: the job is told which runs are live
    cleansing = [s for s in steps(tmp_path / "trace") if s["step"] == "pre_execution_cleansing"]
    assert cleansing[-1]["active"] == ["jan-10"]
    with pytest.raises(LeaseHeldError):
        h.run("trace_job", "20240115", "delta", delta_start_date="20240110")
    with pytest.raises(LeaseHeldError):
        h.run("trace_job", "20240115", "truncate")


def test_a_stale_lease_is_taken_over_and_its_run_marked_failed(tmp_path: Path) -> None:
    h = harness(tmp_path)
    store = RunStore(h.state_url, lease_ttl_seconds=0.05)
    store.upgrade()
    store.start_run(
        run_id="crashed",
        transfer="trace_job",
        execution_date=dt.date(2024, 1, 15),
        mode=WriteMode.TRUNCATE,
        window=Window.unbounded(),
        exclusive=True,
    )
    import sqlalchemy as sa

    with store.engine.begin() as conn:  # its heartbeat stopped ten minutes ago
        conn.execute(
            sa.text("UPDATE etl_leases SET heartbeat_at = :t"),
            {"t": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)},
        )
    (tmp_path / "h" / "config.yaml").write_text(
        (tmp_path / "h" / "config.yaml")
        .read_text()
        .replace("state:\n", "state:\n  lease_ttl_seconds: 60\n")
    )
    assert h.run("trace_job", "20240115", "truncate").exit_code == 0
    crashed = store.get_run("crashed")
    assert crashed is not None and crashed.status == "failed"
    assert "lease expired" in (crashed.error or "")


def test_catch_up_starts_where_the_last_success_ended(tmp_path: Path) -> None:
    h = harness(tmp_path)
    assert h.run("trace_delta_only", "20240110", "delta").exit_code == 0
    summary = h.run("trace_delta_only", "20240115", "delta")
    assert summary.window == "20240111..20240116"
    assert h.run("trace_delta_only", "20240115", "delta").window == "20240115..20240116"


def test_secret_never_reaches_logs_or_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "tok-very-secret-42"
    monkeypatch.setenv("SOURCE_API_TOKEN", secret)
    h = TransferHarness(
        tmp_path / "h",
        logging_format="json",
        transfers={
            "trace_job": {
                "trace_dir": str(tmp_path / "t"),
                "api_token": "${SOURCE_API_TOKEN}",
                "fail_with": "error",
            }
        },
    )
    summary = h.run("trace_job", "20240115", "truncate")
    logging.getLogger("etl_framework").handlers[0].flush()
    err = capsys.readouterr().err
    assert "using token ***" in err
    assert secret not in err
    assert secret not in summary.to_json()
    assert all(secret not in (run.error or "") for run in h.runs())


def test_summary_goes_to_the_termination_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "termination-log"
    log.touch()  # the kubelet creates it in a pod
    monkeypatch.setenv("ETL_TERMINATION_LOG", str(log))
    summary = harness(tmp_path, fail_with="error").run("trace_job", "20240115", "delta")
    written = json.loads(log.read_text())
    assert written["status"] == "failed" and written["exit_code"] == 1
    assert written["run_id"] == summary.run_id and "boom in pipeline" in written["error"]


def test_a_run_whose_lease_was_taken_over_is_not_recorded_as_succeeded(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path / 'state.db'}", lease_ttl_seconds=0.05)
    store.upgrade()
    day = dt.date(2024, 1, 15)
    for run_id in ("paused", "taker"):
        if run_id == "taker":
            import time

            time.sleep(0.1)  # the paused run's heartbeat goes stale
        store.start_run(
            run_id=run_id,
            transfer="t",
            execution_date=day,
            mode=WriteMode.TRUNCATE,
            window=Window.unbounded(),
            exclusive=True,
        )
    # The paused run wakes up and finishes before it notices the lost lease.
    assert not store.finish_run("paused", status="succeeded", rows_read=1, rows_written=1)
    paused = store.get_run("paused")
    assert paused is not None and paused.status == "failed"
    assert "taken over by run taker" in (paused.error or "")
    assert store.finish_run("taker", status="succeeded", rows_read=1, rows_written=1)
    store.close()


def test_signals_held_back_while_a_run_starts_are_raised_inside_it() -> None:
    import os
    import signal
    import threading

    from etl_framework.exceptions import TerminatedError
    from etl_framework.runner import _terminate_on_signals

    # Another thread alive (as in a real process): the signal may land on it.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with _terminate_on_signals() as signals:
            signals.block()
            os.kill(os.getpid(), signal.SIGTERM)  # held back, not raised
            for _ in range(1000):
                pass
            with pytest.raises(TerminatedError, match="SIGTERM"):
                signals.unblock()
            signals.ignore()
            os.kill(os.getpid(), signal.SIGTERM)  # ignored while the run is recorded
            for _ in range(1000):
                pass
    finally:
        stop.set()
        other.join()


def test_options_for_an_unknown_transfer_are_warned_about(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    h = harness(tmp_path)
    config = h.config_path.read_text() + "  trace_jbo: {rows: 3}\n"
    h.config_path.write_text(config)
    assert h.run("trace_job", "20240115", "truncate").exit_code == 0
    assert "config has options for unknown transfer 'trace_jbo' (did you mean 'trace_job'?)" in (
        capfd.readouterr().err
    )


def test_lease_lost_is_not_raised_again_while_the_run_fails_on_its_fence() -> None:
    """The fence refused the publish; the heartbeat learns of the takeover a moment
    later: its interrupt must not land in the failure's logging or cleanup."""
    import signal

    import pytest

    from etl_framework.exceptions import FencedOutError
    from etl_framework.runner import _Signals

    signals = _Signals(active=True)
    signals.lost = FencedOutError("the run's lease", "run-2", detail="lease lost")
    try:
        raise FencedOutError("orders", "run-2")
    except FencedOutError:
        signals.handler(signal.SIGTERM, None)  # nothing raised
    assert signals.fired.is_set()

    elsewhere = _Signals(active=True)
    elsewhere.lost = FencedOutError("the run's lease", "run-2", detail="lease lost")
    with pytest.raises(FencedOutError, match="lease lost"):
        elsewhere.handler(signal.SIGTERM, None)  # anywhere else it interrupts the job
