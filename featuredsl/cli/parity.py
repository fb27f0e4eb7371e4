"""`featuredsl parity DIR` and `featuredsl golden SPEC`."""

from __future__ import annotations

import shlex

import click

from featuredsl.cli.console import (
    RowsProgress,
    batch_rows_option,
    events_option,
    null_token_option,
    quiet_option,
    timestamp_unit_option,
)
from featuredsl.parity.runner import run_parity, write_json


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--data",
    type=click.Path(),
    help="Also compare on this data (Parquet or CSV file, directory or glob).",
)
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False), help="Write the report as JSON."
)
@batch_rows_option
@null_token_option
@quiet_option
@timestamp_unit_option
@events_option
def parity(
    directory: str,
    data: str | None,
    json_out: str | None,
    batch_rows: int | None,
    null_tokens: tuple[str, ...],
    quiet: bool,
    timestamp_unit: str | None,
    events: dict[str, str],
) -> int:
    """Run the numpy module and the ONNX graph of DIRECTORY on edge cases (and DATA); exit 1 on
    any difference. DATA is streamed in batches of --batch-rows rows: memory is bounded by the
    batch size and the report does not depend on it. For a build with window aggregates, DATA
    holds label rows and --events the event tables: each row is sent with its events."""
    with RowsProgress(quiet) as bar:
        report = run_parity(
            directory,
            data,
            timestamp_unit=timestamp_unit,
            batch_rows=batch_rows,
            null_values=null_tokens,
            progress=bar.update,
            events=events or None,
        )
    click.echo(report.format())
    if json_out:
        write_json(report, json_out)
    return 0 if report.ok else 1


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--data", required=True, type=click.Path(dir_okay=False), help="Training data of the example."
)
@click.option(
    "--dir", "directory", required=True, type=click.Path(file_okay=False), help="Golden directory."
)
@click.option("--update", is_flag=True, help="Rewrite the golden files instead of checking them.")
def golden(spec: str, data: str, directory: str, update: bool) -> int:
    """Check (or with --update, regenerate) the golden files of SPEC."""
    from featuredsl.parity.golden import check_golden, write_golden

    if update:
        for path in write_golden(spec, data, directory):
            click.echo(f"wrote {path}")
        return 0
    regenerate = " ".join(
        shlex.quote(part)
        for part in ("featuredsl", "golden", spec, "--data", data, "--dir", directory, "--update")
    )
    problems = check_golden(spec, data, directory, regenerate)
    for problem in problems:
        click.echo(problem, err=True)
    if not problems:
        click.echo(f"{directory}: golden files match")
    return 1 if problems else 0
