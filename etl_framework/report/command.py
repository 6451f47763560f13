"""``etlctl report CONFIG --out DIR``."""

from __future__ import annotations

import click

from etl_framework.report.ledger import DEFAULT_DAYS, DEFAULT_RUNS

MAX_REPORT_RUNS = 1000
MAX_REPORT_DAYS = 3660


@click.command("report")
@click.argument("config_location")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write index.html and runs/ into (created if needed).",
)
@click.option(
    "--days",
    default=DEFAULT_DAYS,
    show_default=True,
    type=click.IntRange(min=7, max=MAX_REPORT_DAYS),
    help="Days the calendars show, up to the last covered day.",
)
@click.option(
    "--runs",
    default=DEFAULT_RUNS,
    show_default=True,
    type=click.IntRange(min=1, max=MAX_REPORT_RUNS),
    help="Last runs listed (each with a page of its steps) per transfer.",
)
def report_command(config_location: str, out: str, days: int, runs: int) -> None:
    """Write a static HTML page of the ledger: coverage calendar, last runs, steps.

    The ledger is opened read-only; the page needs no server (open it from a disk
    or a bucket).
    """
    from etl_framework.config import load_config
    from etl_framework.report import read_history, write_report

    config = load_config(config_location)  # registers the config's secrets for masking
    history = read_history(config.state.url.get_secret_value(), days=days, runs=runs)
    index = write_report(history, out)
    click.echo(f"report of {history.runs_total:,} runs written to {index}")
