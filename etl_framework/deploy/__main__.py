"""``python -m etl_framework.deploy``: render Job manifests; run one backfill index in a pod.

    python -m etl_framework.deploy render --env dev --transfer demo_orders --date 20240115 \\
        [--sql-proxy]
    python -m etl_framework.deploy render --env prod --transfer demo_orders \\
        --backfill 20240101 20240131 --parallelism 4
    python -m etl_framework.deploy render-examples [--out gke_deploy/manifests]
    python -m etl_framework.deploy image-ref --env dev [--registry]
    python -m etl_framework.deploy exec-index -- demo_orders delta CONFIG   (inside a pod)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

import click

from etl_framework.deploy.manifests import (
    BACKFILL_DAYS_ENV,
    BACKFILL_START_ENV,
    COMPLETION_INDEX_ENV,
    ENVIRONMENTS,
    build_backfill_job,
    build_job,
    execution_date_from_index,
    execution_date_from_list,
    render_examples,
    to_yaml,
)
from etl_framework.deploy.spec import (
    DEFAULT_TRANSFERS_FILE,
    TransferSpec,
    get_transfer,
    load_transfers,
)
from etl_framework.exceptions import ETLError, ExitCode
from etl_framework.window import WriteMode

DEFAULT_EXAMPLES_DIR = "gke_deploy/manifests"
MAX_PARALLELISM = 1000
"""Most backfill pods at once (bigger numbers are a usage error, exit 2)."""


def require_registered(specs: Iterable[TransferSpec]) -> None:
    """A manifest for a transfer the job image would not know fails at run time: refuse
    to render it (UnknownTransferError, exit 2, naming where transfers were searched)."""
    from etl_framework import registry

    for spec in specs:
        registry.get(spec.name)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Kubernetes Jobs for etl_framework transfers."""


@main.command()
@click.option("--env", "env", type=click.Choice(ENVIRONMENTS), required=True, help="Overlay.")
@click.option("--transfer", required=True, help="Transfer name in the transfers file.")
@click.option("--date", "execution_date", help="EXECUTION_DATE (YYYYMMDD) of a single run.")
@click.option("--delta-start-date", default=None, help="--delta_start_date of a single run.")
@click.option(
    "--backfill",
    nargs=2,
    default=None,
    metavar="START END",
    help="Render an Indexed Job running one delta window per day in [START, END].",
)
@click.option(
    "--parallelism",
    default=2,
    show_default=True,
    type=click.IntRange(min=1, max=MAX_PARALLELISM),
    help="Backfill pods at once.",
)
@click.option(
    "--mode",
    type=click.Choice([WriteMode.DELTA.value]),
    default=None,
    help="Backfill a truncate transfer as delta windows anyway (refused otherwise).",
)
@click.option(
    "--sql-proxy/--no-sql-proxy",
    default=None,
    help="Force the Cloud SQL Auth Proxy sidecar on/off (default: as the transfers file says).",
)
@click.option(
    "--transfers-file",
    default=DEFAULT_TRANSFERS_FILE,
    show_default=True,
    type=click.Path(dir_okay=False),
)
def render(
    env: str,
    transfer: str,
    execution_date: str | None,
    delta_start_date: str | None,
    backfill: tuple[str, str] | None,
    parallelism: int,
    mode: str | None,
    sql_proxy: bool | None,
    transfers_file: str,
) -> None:
    """Print the Job manifest of one run (or one backfill) as YAML."""
    try:
        spec = get_transfer(transfer, transfers_file, env=env)
        require_registered([spec])
        if backfill:
            manifest = build_backfill_job(
                spec,
                *backfill,
                parallelism=parallelism,
                env=env,
                sql_proxy=sql_proxy,
                mode=WriteMode(mode) if mode else None,
            )
        elif execution_date:
            manifest = build_job(
                spec,
                execution_date,
                delta_start_date=delta_start_date,
                env=env,
                sql_proxy=sql_proxy,
            )
        else:
            raise click.UsageError("give --date YYYYMMDD or --backfill START END")
    except ETLError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    click.echo(to_yaml(manifest), nl=False)


@main.command("render-examples")
@click.option("--out", default=DEFAULT_EXAMPLES_DIR, show_default=True, type=click.Path())
@click.option(
    "--transfers-file", default=DEFAULT_TRANSFERS_FILE, show_default=True, type=click.Path()
)
def render_examples_command(out: str, transfers_file: str) -> None:
    """Write the example manifests of every transfer and environment under OUT."""
    try:
        specs = {env: load_transfers(transfers_file, env) for env in ENVIRONMENTS}
        for listed in specs.values():
            require_registered(listed)
        files = render_examples(specs)
    except ETLError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    for relative, text in sorted(files.items()):
        path = Path(out) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(str(path))


@main.command("image-ref")
@click.option("--env", "env", type=click.Choice(ENVIRONMENTS), required=True)
@click.option("--transfer", default=None, help="Default: the first transfer in the file.")
@click.option(
    "--transfers-file", default=DEFAULT_TRANSFERS_FILE, show_default=True, type=click.Path()
)
@click.option("--registry", is_flag=True, help="Print only the registry host.")
def image_ref(env: str, transfer: str | None, transfers_file: str, registry: bool) -> None:
    """Print the image (repository:tag) an environment runs, e.g. for CI to log in and push."""
    try:
        specs = load_transfers(transfers_file, env)
        spec = get_transfer(transfer, transfers_file, env) if transfer else specs[0]
    except (ETLError, IndexError) as exc:
        click.echo(f"error: {exc or 'no transfers in ' + transfers_file}", err=True)
        sys.exit(int(ExitCode.CONFIG))
    click.echo(spec.image.split("/", 1)[0] if registry else spec.image_ref)


@main.command(
    "exec-index",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("pipeline_args", nargs=-1, type=click.UNPROCESSED)
def exec_index(pipeline_args: tuple[str, ...]) -> None:
    """Run `pipeline DAY PIPELINE_ARGS...` with DAY from the backfill's completion index.

    DAY = $ETL_BACKFILL_START + $JOB_COMPLETION_INDEX days, or, when $ETL_BACKFILL_DAYS
    lists the days (a backfill with gaps), the $JOB_COMPLETION_INDEX-th listed day. The
    process is replaced by
    the ordinary `pipeline` run, so its exit code and signals are the pod's.
    """
    start = os.environ.get(BACKFILL_START_ENV)
    index = os.environ.get(COMPLETION_INDEX_ENV)
    if not start or index is None:
        click.echo(
            f"error: exec-index needs ${BACKFILL_START_ENV} and ${COMPLETION_INDEX_ENV}"
            " (set in the pods of an Indexed backfill Job)",
            err=True,
        )
        sys.exit(int(ExitCode.USAGE))
    try:
        listed = os.environ.get(BACKFILL_DAYS_ENV)
        if listed:
            day = execution_date_from_list(listed, index)
        else:
            day = execution_date_from_index(start, index)
    except ETLError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    argv = [sys.executable, "-m", "etl_framework", day, *pipeline_args]
    click.echo(f"backfill index {index}: pipeline {' '.join(argv[3:])}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    main()
