"""`featuredsl build SPEC --data PATH --out DIR [--float32] [--strict]`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from featuredsl.artifact.conformance.kit import KIT_DIR
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
from featuredsl.parity.build import build as run_build


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(),
    help="Training data: a Parquet, CSV or TSV file, a directory of them (hive-partitioned "
    "Parquet too) or a quoted glob; streamed in batches.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Build directory to write.",
)
@click.option("--float32", is_flag=True, help="Also write features.f32.onnx with a float32 output.")
@click.option(
    "--strict",
    is_flag=True,
    help="Fail on data-quality findings (NaN/inf-heavy, constant or one-column features, "
    "all-null inputs, zero rows) instead of reporting them.",
)
@null_token_option
@batch_rows_option
@engine_options
@quiet_option
@timestamp_unit_option
@events_option
def build(
    spec: str,
    data: str,
    out: str,
    float32: bool,
    strict: bool,
    null_tokens: tuple[str, ...],
    batch_rows: int | None,
    engine: str,
    scheduler: str | None,
    quiet: bool,
    timestamp_unit: str | None,
    events: dict[str, str],
) -> int:
    """Fit SPEC on DATA and write the numpy module, the ONNX graph and the manifest to OUT."""
    if engine == "dask" and events:
        raise click.UsageError(
            "--events (window aggregates) runs on one machine: drop --engine dask"
        )
    if engine == "dask":
        from featuredsl.distributed.dask import build_on_dask

        report = build_on_dask(
            spec,
            data,
            out,
            scheduler=scheduler,
            float32=float32,
            strict=strict,
            batch_rows=batch_rows,
            null_values=null_tokens,
            timestamp_unit=timestamp_unit,
        )
    else:
        with RowsProgress(quiet) as bar:
            report = run_build(
                spec,
                data,
                out,
                float32=float32,
                strict=strict,
                batch_rows=batch_rows,
                null_values=null_tokens,
                rows_progress=bar.update,
                timestamp_unit=timestamp_unit,
                events=events,
            )
    fitted = report.fitted
    table = Table(title=f"spec {fitted.program.name} -> {out}", title_justify="left")
    for header in ("feature", "dtype", "columns", "inputs"):
        table.add_column(header)
    for feature in fitted.program.features:
        table.add_row(
            feature.name,
            str(feature.dtype),
            str(len(feature.column_names or ())),
            ", ".join(feature.inputs_used),
        )
    out_console = make_console()
    out_console.print(table)
    kit_files = [path for name, path in report.files.items() if name.startswith(KIT_DIR + "/")]
    for path in report.files.values():
        if path not in kit_files:
            out_console.print(f"  wrote {path} ({Path(path).stat().st_size:,} bytes)")
    if kit_files:
        size = sum(Path(path).stat().st_size for path in kit_files)
        out_console.print(
            f"  wrote {Path(out) / KIT_DIR}/ (conformance kit: {len(kit_files)} files, {size:,} "
            f"bytes); check a serving runtime with `featuredsl verify {out} --runtime node`"
        )
    columns = report.parity.comparison.columns
    exact = sum(1 for c in columns if c.bound == 0)
    out_console.print(
        f"fitted {len(fitted.constants)} statistics in {report.fit_seconds:.2f}s; fingerprint {fitted.fingerprint[:16]}"
    )
    out_console.print(
        "parity: numpy == onnx on "
        + ", ".join(f"{count} {kind} rows" for kind, count in report.parity.rows.items())
        + (
            f"; all {len(columns)} columns bit-identical"
            if exact == len(columns)
            else f"; {exact} of {len(columns)} columns bit-identical, the rest within their ULP bound"
        )
    )
    for warning in report.warnings:
        out_console.print(f"warning: {warning}", markup=False, soft_wrap=True)
    quality = fitted.quality
    if quality is not None and quality.findings:
        out_console.print(
            f"data quality: {len(quality.findings)} finding(s) on {quality.rows:,} training rows "
            "(stored in manifest.json; --strict makes them errors):"
        )
        for finding in quality.findings:
            out_console.print(f"  - {finding}", markup=False)
    return 0
