"""``etlctl``: administer the run ledger (schema upgrades, run history, leases)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from etl_framework.state import RunStore
    from etl_framework.state.store import StepRow

from etl_framework.backfill.command import backfill_command
from etl_framework.exceptions import ETLError, ExitCode
from etl_framework.executions.cli import executions
from etl_framework.redaction import install_excepthook, redact
from etl_framework.report.command import report_command
from etl_framework.scaffold.command import new_job_command

MAX_RUNS_LIMIT = 100_000
"""Most runs ``etlctl runs --limit`` shows (bigger numbers are a usage error, exit 2)."""


def _store(config_location: str) -> RunStore:
    from etl_framework.config import load_config
    from etl_framework.state import RunStore

    config = load_config(config_location)
    return RunStore(config.state.url.get_secret_value())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Administer the etl_framework run ledger named by a config file."""


@cli.group()
def db() -> None:
    """Ledger schema (alembic migrations shipped in the package)."""


@db.command("upgrade")
@click.argument("config_location", metavar="CONFIG")
@click.argument("revision", default="head")
def db_upgrade(config_location: str, revision: str) -> None:
    """Create or upgrade the ledger schema to REVISION (default: head; needed once per
    PostgreSQL database and after each upgrade of the package)."""
    from etl_framework.state import revisions

    store = _store(config_location)
    try:
        revisions.upgrade(store, revision)
    finally:
        store.close()
    click.echo("ledger schema is up to date" if revision == "head" else f"ledger at {revision}")


@db.command("downgrade")
@click.argument("config_location", metavar="CONFIG")
@click.argument("revision")
def db_downgrade(config_location: str, revision: str) -> None:
    """Undo migrations down to REVISION (an id from `etlctl db history`, or `base`)."""
    from etl_framework.state import revisions

    store = _store(config_location)
    try:
        revisions.downgrade(store, revision)
        now = revisions.current(store)
    finally:
        store.close()
    click.echo(f"ledger at {', '.join(now) or 'base'}")


@db.command("current")
@click.argument("config_location", metavar="CONFIG")
def db_current(config_location: str) -> None:
    """Print the ledger's current revision (an empty line: no schema yet)."""
    from etl_framework.state import revisions

    store = _store(config_location)
    try:
        click.echo(" ".join(revisions.current(store)))
    finally:
        store.close()


@db.command("history")
@click.argument("config_location", metavar="CONFIG")
def db_history(config_location: str) -> None:
    """List the shipped migrations, newest first, marking head and current."""
    from etl_framework.state import revisions

    store = _store(config_location)
    try:
        for revision in revisions.history(store):
            click.echo(revision.line())
    finally:
        store.close()


@db.command("check")
@click.argument("config_location")
def db_check(config_location: str) -> None:
    """Exit 0 if the ledger schema is current, 3 otherwise."""
    store = _store(config_location)
    try:
        current = store.schema_is_current()
    finally:
        store.close()
    click.echo(
        "ledger schema is up to date" if current else "ledger schema needs `etlctl db upgrade`"
    )
    sys.exit(0 if current else 3)


@cli.command("runs")
@click.argument("config_location")
@click.option("--transfer", default=None, help="Only this transfer.")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(min=1, max=MAX_RUNS_LIMIT)
)
@click.option(
    "--steps",
    "show_steps",
    is_flag=True,
    help="Also each run's steps and orchestrator run (Airflow run id, Kubernetes Job).",
)
def runs(config_location: str, transfer: str | None, limit: int, show_steps: bool) -> None:
    """Recent runs, newest first."""
    store = _store(config_location)
    try:
        store.ensure_schema(None)
        records = store.runs(transfer, limit)
        steps = {r.run_id: store.steps(r.run_id) for r in records} if show_steps else {}
    finally:
        store.close()
    click.echo(
        f"{'started (UTC)':<20} {'transfer':<22} {'mode':<8} {'window':<19} "
        f"{'status':<10} {'rows':>10}  error"
    )
    for r in records:
        click.echo(
            f"{r.started_at:%Y-%m-%d %H:%M:%S} {r.transfer:<22} {r.mode:<8} {r.window!s:<19} "
            f"{r.status:<10} {r.rows_written:>10,}  {r.error or r.skip_reason or ''}"
        )
        if show_steps and r.orchestrator_run_id:
            click.echo(f"{'':<19} - orchestrator run {r.orchestrator_run_id}")
        for step in steps.get(r.run_id, ()):
            line = f"{'':<19} - {step.step:<24} {step.status or '':<10} {step.seconds:>8.3f}s"
            if step.rows_read is not None and step.rows_written is not None:
                line += f"  {step.rows_read:,} read, {step.rows_written:,} written"
            if step.bq_jobs:
                line += "  " + _bigquery_cost(step)
            click.echo(line)


def _bigquery_cost(step: StepRow) -> str:
    """``bq 3 jobs (1 load) processed 1.2 MiB billed 10.0 MiB slot-ms 812``."""
    from etl_framework.report.cost import describe_cost

    return "bq " + describe_cost(
        step.bq_jobs or 0,
        step.bq_load_jobs,
        step.bq_bytes_processed,
        step.bq_bytes_billed,
        step.bq_slot_ms,
    )


cli.add_command(executions)
cli.add_command(report_command)
cli.add_command(backfill_command)
cli.add_command(new_job_command)


def main() -> None:
    install_excepthook()  # even a bug's traceback shows no secret
    try:
        cli.main(prog_name="etlctl", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        _fail(exc.format_message(), ExitCode.USAGE)
    except (click.Abort, KeyboardInterrupt):
        _fail("interrupted", ExitCode.FAILED)
    except ETLError as exc:
        _fail(str(exc), exc.exit_code)


def _fail(message: str, code: int) -> None:
    click.echo(f"etlctl: error: {redact(' '.join(redact(message).split()))}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
