"""`featuredsl transform DIR --data PATH --out OUT.parquet [--engine dask]`."""

from __future__ import annotations

from typing import Any

import click

from featuredsl.cli.console import (
    RowsProgress,
    batch_rows_option,
    engine_options,
    events_option,
    make_console,
    null_token_option,
    quiet_option,
    timestamp_unit_option,
)


@click.command()
@click.argument("build_dir", metavar="DIR", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(),
    help="Input data: a Parquet, CSV or TSV file, a directory of them (hive-partitioned "
    "Parquet too) or a quoted glob.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=True),
    help="Parquet file to write (with --engine dask: a directory of Parquet parts).",
)
@click.option("--float32", is_flag=True, help="Write float32 columns (values rounded once).")
@null_token_option
@batch_rows_option
@engine_options
@quiet_option
@timestamp_unit_option
@events_option
def transform(
    build_dir: str,
    data: str,
    out: str,
    float32: bool,
    null_tokens: tuple[str, ...],
    batch_rows: int | None,
    engine: str,
    scheduler: str | None,
    quiet: bool,
    timestamp_unit: str | None,
    events: dict[str, str],
) -> int:
    """Compute the features of DATA with the build in DIR and write them to OUT as Parquet:
    one column per feature name, rows in the order of DATA (files in path order)."""
    from featuredsl.artifact.load import load
    from featuredsl.ingest.batches import DEFAULT_BATCH_ROWS

    artifacts = load(build_dir)
    transformer: Any = artifacts
    if artifacts.event_sources:
        if engine == "dask":
            raise click.UsageError("window aggregates run on one machine: drop --engine dask")
        from featuredsl.artifact.windows import Backfilled

        transformer = Backfilled(artifacts, events, timestamp_unit, null_tokens)
    elif events:
        raise click.UsageError(f"{build_dir} has no window aggregates: drop --events")
    if engine == "dask":
        from featuredsl.distributed.dask import transform_on_dask

        rows = transform_on_dask(
            build_dir, data, out, scheduler=scheduler, float32=float32, null_values=null_tokens
        )
    else:
        from featuredsl.artifact.transform import transform_path

        with RowsProgress(quiet) as bar:
            rows = transform_path(
                transformer,
                artifacts.program_inputs,
                data,
                out,
                batch_rows=batch_rows or DEFAULT_BATCH_ROWS,
                null_values=null_tokens,
                float32=float32,
                spec_name=artifacts.manifest["spec"],
                progress=bar.update if bar.enabled else None,
                timestamp_unit=timestamp_unit,
            )
    make_console().print(
        f"wrote {rows:,} rows x {len(artifacts.feature_names):,} features to {out}"
    )
    return 0
