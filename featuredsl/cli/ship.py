"""`featuredsl bundle DIR MODEL --out OUT [--by-order | --assume-order]` and
`featuredsl shadow A B (--data PATH | --log PATH) [--json OUT] [--fail-above X]`
and `featuredsl shadow --log PATH` (the live shadow of `featuredsl serve --shadow`)."""

from __future__ import annotations

from pathlib import Path

import click

from featuredsl.cli.console import (
    RowsProgress,
    batch_rows_option,
    null_token_option,
    quiet_option,
    timestamp_unit_option,
)


@click.command()
@click.argument("build_dir", type=click.Path(file_okay=False))
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="The bundle (.onnx) to write."
)
@click.option(
    "--by-order",
    is_flag=True,
    help="The model takes one [N, F] tensor whose columns are the features in build order; "
    "checked against the features the model records (models exported by featuredsl's to_onnx).",
)
@click.option(
    "--assume-order",
    is_flag=True,
    help="As --by-order, for a plain model that records no features: the column mapping is "
    "taken unchecked, printed, and recorded in the bundle's metadata.",
)
def bundle(build_dir: str, model: str, out: str, by_order: bool, assume_order: bool) -> int:
    """Merge BUILD_DIR's feature graph and MODEL into one ONNX model: raw inputs in, MODEL's
    outputs (and `features`) out."""
    from featuredsl.runtime.bundle import bundle as run_bundle
    from featuredsl.runtime.bundle import mapping

    report = run_bundle(build_dir, model, out, by_order=by_order, assume_order=assume_order)
    if report.by == "assumed order":
        click.echo(
            f"warning: {model} records no features it was trained on; its columns are ASSUMED "
            "to be (recorded in the bundle's metadata, unchecked):",
            err=True,
        )
        for line in mapping(report.feature_names):
            click.echo(f"  {line}", err=True)
    click.echo(f"wrote {report.path} ({report.size:,} bytes)")
    click.echo(
        f"  features: {len(report.feature_names)} columns, fingerprint {report.fingerprint[:16]}"
    )
    for link in report.links:
        columns = (
            f"all {len(link.columns)} features in build order"
            if report.by in ("order", "assumed order")
            else report.feature_names[link.columns[0]]
        )
        cast = ", cast float64 -> float32" if link.dtype == "float32" else ""
        click.echo(f"  model input {link.model_input!r} <- {columns} ({link.dtype}{cast})")
    click.echo(f"  outputs: {', '.join(report.outputs)}, features")
    click.echo(
        f"  model sha256 {report.model_sha256[:16]}; opsets "
        + ", ".join(f"{domain} {version}" for domain, version in report.opsets)
    )
    return 0


@click.command()
@click.argument("a", type=click.Path(exists=True), required=False)
@click.argument("b", type=click.Path(exists=True), required=False)
@click.option(
    "--data", type=click.Path(), help="Rows to run: a CSV or Parquet file, directory or glob."
)
@click.option(
    "--log", "log", type=click.Path(dir_okay=False), help="Rows to run: a serving log's requests."
)
@click.option("--limit", type=int, default=None, help="At most this many rows (or requests).")
@click.option(
    "--output",
    "outputs",
    multiple=True,
    help="Compare only this output (repeatable); default: every output of both.",
)
@click.option(
    "--atol", type=float, default=0.0, show_default=True, help="A row differs when |a - b| > atol."
)
@click.option("--top", type=int, default=5, show_default=True, help="Rows shown per output.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write JSON here.")
@click.option(
    "--fail-above",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Exit 1 when the share of rows that differ exceeds this (0..1).",
)
@batch_rows_option
@null_token_option
@quiet_option
@timestamp_unit_option
def shadow(
    a: str | None,
    b: str | None,
    data: str | None,
    log: str | None,
    limit: int | None,
    outputs: tuple[str, ...],
    atol: float,
    top: int,
    json_path: str | None,
    fail_above: float | None,
    batch_rows: int | None,
    null_tokens: tuple[str, ...],
    quiet: bool,
    timestamp_unit: str | None,
) -> int:
    """Run A (current) and B (candidate), build directories or bundles, on the same rows and
    report how their outputs differ. With --log and no A B: report the live disagreement of a
    candidate served in shadow (`featuredsl serve A --shadow B --log LOG`)."""
    from featuredsl.runtime.shadow import shadow as run_shadow

    if a is None and b is None and log is not None and data is None:
        return _live(log, outputs, atol, top, limit, json_path, fail_above)
    if a is None or b is None:
        raise click.UsageError(
            "give A and B (two builds or bundles), or --log LOG alone for a live shadow report"
        )
    if (data is None) == (log is None):
        raise click.UsageError("give exactly one of --data PATH or --log PATH")
    if any(_has_windows(path) for path in (a, b)):
        raise click.UsageError(
            "shadow does not take builds with window aggregates yet (each row needs its "
            "events); compare their features instead: featuredsl transform each build with "
            "--events, then compare the two tables (docs/windows.md, Limits)"
        )
    with RowsProgress(quiet) as bar:
        report = run_shadow(
            a,
            b,
            data=data,
            log=log,
            outputs=outputs,
            atol=atol,
            top=top,
            limit=limit,
            fail_above=fail_above,
            timestamp_unit=timestamp_unit,
            batch_rows=batch_rows,
            null_values=null_tokens,
            progress=bar.update if bar.enabled else None,  # no CSV counting pass for no bar
        )
    click.echo(report.render_text())
    if json_path:
        Path(json_path).write_text(report.to_json(), encoding="utf-8")
        click.echo(f"wrote {json_path}")
    return 1 if report.failed else 0


def _has_windows(path: str) -> bool:
    """Whether a build directory or bundle aggregates events over windows."""
    from featuredsl.runtime.serving import open_served

    return bool(open_served(path).event_sources)


def _live(
    log: str,
    outputs: tuple[str, ...],
    atol: float,
    top: int,
    limit: int | None,
    json_path: str | None,
    fail_above: float | None,
) -> int:
    import json

    from featuredsl.runtime.live_shadow import live_shadow

    reports = live_shadow(
        log, outputs=outputs, atol=atol, top=top, limit=limit, fail_above=fail_above
    )
    click.echo("\n\n".join(r.render_text() for r in reports))
    if json_path:
        documents = [r.to_dict() for r in reports]
        Path(json_path).write_text(
            json.dumps(documents, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
            encoding="utf-8",
        )
        click.echo(f"wrote {json_path}")
    return 1 if any(r.failed for r in reports) else 0
