"""``etlctl backfill``: windows, journal, --k8s manifests, bad input touching nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from click.testing import CliRunner

import tests.support.sample_jobs  # noqa: F401  registers the trace transfers
from etl_framework.admin import cli
from etl_framework.backfill import Journal, contiguous_ranges, missing_days, windows
from etl_framework.exceptions import UnknownTransferError
from etl_framework.state import RunStore
from tests.support.report_ledger import add_run, sqlite_ledger

D = dt.date(2024, 3, 1)


def test_windows_and_ranges() -> None:
    days = windows(D, D + dt.timedelta(days=4))
    assert len(days) == 5 and days[0] == D
    gappy = [days[0], days[1], days[3], days[4]]
    assert contiguous_ranges(gappy) == [(days[0], days[1]), (days[3], days[4])]


def test_only_missing_reads_the_ledger(tmp_path: Path) -> None:
    url = sqlite_ledger(tmp_path / "state.db")
    store = RunStore(url)
    add_run(store, "t", D + dt.timedelta(days=1))
    add_run(store, "t", D + dt.timedelta(days=2), status="failed", error="x")
    store.close()
    days = windows(D, D + dt.timedelta(days=3))
    assert missing_days(url, "t", days) == [days[0], days[2], days[3]]
    assert missing_days(f"sqlite:///{tmp_path / 'none.db'}", "t", days) == days
    assert not (tmp_path / "none.db").exists()


def test_journal_ignores_a_torn_last_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    started = journal.begin()
    journal.record({"day": "20240301", "status": "succeeded"})
    journal.record({"day": "20240302", "status": "failed"})
    with journal.path.open("a") as fh:
        fh.write('{"day": "20240303", "stat')
    assert journal.done() == {D}
    assert journal.begin() == started  # continued, not restarted
    assert journal.begin(restart=True) >= started and journal.done() == set()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
        f"transfers:\n  trace_job:\n    trace_dir: {tmp_path / 'trace'}\n"
    )
    return path


def test_bad_input_is_one_line_and_touches_nothing(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    runner = CliRunner()
    result = runner.invoke(cli, ["backfill", config, "trace_job", "20240305", "20240301"])
    assert result.exit_code == 2 and "before START" in result.output
    result = runner.invoke(cli, ["backfill", config, "trace_job", "2024-13-01", "20240301"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["backfill", config, "no_such_transfer", "20240301", "20240302"])
    assert isinstance(result.exception, UnknownTransferError)  # etlctl: one line, exit 2
    assert result.exception.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_k8s_hands_the_list_to_indexed_jobs(tmp_path: Path) -> None:
    url = sqlite_ledger(tmp_path / "state.db")
    store = RunStore(url)
    add_run(store, "demo_orders", D + dt.timedelta(days=2))
    store.close()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state:\n  url: {url}\nconnections:\n  warehouse:\n    type: sql\n"
        f"    url: sqlite:///{tmp_path / 'dw.db'}\n"
    )
    repo = Path(__file__).resolve().parents[3]
    transfers = str(repo / "gke_deploy" / "transfers.yaml")
    args = ["backfill", str(config), "demo_orders", "20240301", "20240305", "--only-missing"]
    k8s = ["--k8s", "dev", "--transfers-file", transfers, "--dry-run"]
    result = CliRunner().invoke(cli, [*args, *k8s])
    assert result.exit_code == 0, result.output
    (job,) = list(yaml.safe_load_all(result.output))  # one Job, gaps included
    assert (job["spec"]["completionMode"], job["spec"]["completions"]) == ("Indexed", 4)
    annotations = job["metadata"]["annotations"]
    assert annotations["etl-framework.io/backfill-start"] == "20240301"
    assert annotations["etl-framework.io/backfill-end"] == "20240305"
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["ETL_BACKFILL_DAYS"] == "20240301,20240302,20240304,20240305"

    contiguous = ["backfill", str(config), "demo_orders", "20240304", "20240305", "--only-missing"]
    result = CliRunner().invoke(cli, [*contiguous, *k8s])
    assert result.exit_code == 0, result.output
    job = yaml.safe_load(result.output)
    assert job["spec"]["completions"] == 2
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert "ETL_BACKFILL_DAYS" not in env and env["ETL_BACKFILL_START"] == "20240304"

    stray = CliRunner().invoke(cli, [*args, "--dry-run"])
    assert stray.exit_code == 2 and "--k8s" in stray.output
