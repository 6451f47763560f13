"""``etlctl new-job NAME --kind table|http|transform``."""

from __future__ import annotations

from pathlib import Path

import click

from etl_framework.scaffold import KINDS


@click.command("new-job")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    required=True,
    help="table: a CSV export; http: an API endpoint; transform: a view over demo_orders.",
)
@click.option(
    "--jobs-dir",
    default="jobs",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The transfers' package (the module goes here, the sample under samples/).",
)
@click.option(
    "--config",
    "config_path",
    default="jobs/config/local.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The config file the transfer's entry is added to (as text: comments stay).",
)
@click.option(
    "--tests-dir",
    default="tests/unit/jobs",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the job's test goes.",
)
def new_job_command(
    name: str, kind: str, jobs_dir: Path, config_path: Path, tests_dir: Path
) -> None:
    """Scaffold transfer NAME: job module, config entry, local sample and a passing test.

    Nothing is written when NAME is invalid or taken (a registered transfer, an
    existing file or config entry): exit 2.
    """
    from etl_framework import registry
    from etl_framework.scaffold import plan_job, write_job

    registry.discover()
    plan = plan_job(
        name,
        kind,  # type: ignore[arg-type]  # click.Choice(KINDS)
        jobs_dir=jobs_dir,
        config_path=config_path,
        tests_dir=tests_dir,
        known_transfers=frozenset(registry.names()),
    )
    written = write_job(plan)
    for path in written:
        click.echo(f"created {path}")
    click.echo(f"added {', '.join(plan.added)} to {plan.config_path}")
    test = next(p for p in written if p.name == f"test_{name}.py")
    date = "20240215" if kind == "transform" else "20240115"
    click.echo("next:")
    click.echo(f"  python -m pytest {test}")
    if kind == "transform":
        click.echo(f"  pipeline {date} demo_orders truncate {plan.config_path}")
    click.echo(f"  pipeline {date} {name} truncate {plan.config_path}")
