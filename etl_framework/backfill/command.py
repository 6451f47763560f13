"""``etlctl backfill CONFIG TRANSFER START END``."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from etl_framework.cli import DateType
from etl_framework.window import WriteMode, format_date

MAX_PARALLEL = 32
"""Most windows run at once locally (bigger numbers are a usage error, exit 2)."""


@click.command("backfill")
@click.argument("config_location")
@click.argument("transfer")
@click.argument("start", type=DateType())
@click.argument("end", type=DateType())
@click.option("--only-missing", is_flag=True, help="Only days without a succeeded run.")
@click.option(
    "--parallel",
    default=1,
    show_default=True,
    type=click.IntRange(min=1, max=MAX_PARALLEL),
    help="Windows at once (1 when the transfer does not allow parallel windows).",
)
@click.option(
    "--mode",
    type=click.Choice([m.value for m in WriteMode]),
    default=WriteMode.DELTA.value,
    show_default=True,
)
@click.option("--keep-going", is_flag=True, help="Run the other windows after a failure.")
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Resume journal (default: .etl/backfill/TRANSFER-START-END-MODE.jsonl).",
)
@click.option("--restart", is_flag=True, help="Ignore what the journal records as done.")
@click.option(
    "--k8s",
    "k8s_env",
    default=None,
    metavar="ENV",
    help="Run the windows as one Indexed Job of overlay ENV on the cluster instead"
    " (--parallel: pods at once).",
)
@click.option("--dry-run", is_flag=True, help="With --k8s: print the Job instead of creating it.")
@click.option("--context", default=None, help="With --k8s: kubeconfig context (default: current).")
@click.option(
    "--transfers-file",
    default="gke_deploy/transfers.yaml",
    show_default=True,
    help="With --k8s: the deploy transfers file.",
)
def backfill_command(
    config_location: str,
    transfer: str,
    start: dt.date,
    end: dt.date,
    only_missing: bool,
    parallel: int,
    mode: str,
    keep_going: bool,
    journal: Path | None,
    restart: bool,
    k8s_env: str | None,
    dry_run: bool,
    context: str | None,
    transfers_file: str,
) -> None:
    """Rebuild TRANSFER's days START..END (YYYYMMDD, inclusive), one window a day.

    A rerun of an interrupted backfill runs only the windows its journal does not
    record as done. Progress: a bar on a terminal, JSON lines on stdout otherwise;
    a summary table at the end (stderr when stdout is not a terminal).
    """
    from etl_framework import registry
    from etl_framework.backfill.plan import Journal, missing_days, succeeded_days, windows
    from etl_framework.runner import prepare

    if k8s_env is None and (dry_run or context):
        raise click.UsageError("--dry-run and --context go with --k8s ENV")
    if end < start:
        raise click.UsageError(f"END {format_date(end)} is before START {format_date(start)}")
    write_mode = WriteMode(mode)
    request = prepare(transfer, end, write_mode, config_location, start)  # validates all
    config = request.config
    url = config.state.url.get_secret_value()
    days = windows(start, end)
    if only_missing:
        days = missing_days(url, transfer, days)
    if k8s_env is not None:
        from etl_framework.backfill.k8s import run_k8s

        run_k8s(
            transfer,
            days,
            k8s_env,
            transfers_file,
            write_mode,
            parallelism=parallel,
            dry_run=dry_run,
            context=context,
        )
        return
    book = Journal(journal or Journal.default_path(transfer, start, end, mode))
    begun = book.begin(restart=restart)
    done = book.done() | succeeded_days(url, transfer, since=begun)
    todo = [day for day in days if day not in done]
    job = registry.get(transfer)
    if parallel > 1 and (write_mode is WriteMode.TRUNCATE or not job.allow_parallel_windows):
        click.echo(f"{transfer} does not allow parallel windows: running one at a time", err=True)
        parallel = 1
    results = _run(transfer, config_location, todo, write_mode, book, parallel, keep_going)
    _summary(transfer, days, len(days) - len(todo), results)
    from etl_framework.backfill.run import exit_code

    sys.exit(exit_code(results, len(todo)))


def _run(
    transfer: str,
    config_location: str,
    days: list[dt.date],
    mode: WriteMode,
    book: Any,
    parallel: int,
    keep_going: bool,
) -> list[Any]:
    from etl_framework.backfill.run import Backfill, json_progress

    def backfill(**callbacks: Any) -> Any:
        return Backfill(
            transfer,
            config_location,
            days,
            mode=mode,
            journal=book,
            parallel=parallel,
            keep_going=keep_going,
            **callbacks,
        )

    if not sys.stdout.isatty():
        emit = json_progress(sys.stdout)
        print(json.dumps({"event": "backfill", "transfer": transfer, "windows": len(days)}))
        return list(backfill(on_result=emit).run())
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task(f"{transfer}: starting", total=len(days))

        def started(day: str) -> None:
            bar.update(task, description=f"{transfer}: {day}")

        def finished(result: Any, done: int, total: int) -> None:
            bar.update(task, completed=done)
            if result.status != "succeeded":
                bar.console.print(f"[red]{result.day} failed[/red]: {result.error}")

        return list(backfill(on_result=finished, on_start=started).run())


def _summary(transfer: str, days: list[dt.date], skipped: int, results: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from etl_framework import redaction

    table = Table(title=f"backfill {transfer}: {len(days)} windows, {skipped} already done")
    for column in ("day", "status", "exit", "seconds", "rows read", "rows written", "error"):
        table.add_column(column, justify="right" if column in ("seconds", "exit") else "left")
    for r in results:
        table.add_row(
            r.day,
            r.status,
            str(r.exit_code),
            f"{r.seconds:.1f}",
            f"{r.rows_read:,}",
            f"{r.rows_written:,}",
            redaction.redact(r.error or ""),
        )
    ok = sum(1 for r in results if r.status == "succeeded")
    not_run = len(days) - skipped - len(results)
    table.caption = f"{ok} succeeded, {len(results) - ok} failed, {not_run} not run"
    Console(file=sys.stdout if sys.stdout.isatty() else sys.stderr, width=120).print(table)
