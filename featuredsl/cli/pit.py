"""`featuredsl pit-join` and `featuredsl audit`: point-in-time joins and leakage audits of files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from featuredsl.cli.console import make_console, null_token_option, timestamp_unit_option
from featuredsl.errors import DataError
from featuredsl.ingest.files import text_delimiter, text_options
from featuredsl.joins import pit
from featuredsl.joins.audit import AuditReport, Thresholds
from featuredsl.joins.audit import audit as run_audit
from featuredsl.language.durations import human_duration

PARQUET = {".parquet", ".pq"}
CSV = {".csv"}


# ---------------------------------------------------------------- files


def read_table(path: Path, null_tokens: Sequence[str] = ()) -> pa.Table:
    """A Parquet, CSV or TSV file as an Arrow table; unreadable files become a DataError naming
    the file. Text files follow featuredsl.ingest's rules (ingest.files.text_options): only an
    empty field is null ("NA" stays text), a quoted "" is the empty string, so a CSV round trip
    never turns "" into null; no line is skipped."""
    suffix = path.suffix.lower()
    delimiter = text_delimiter(path)
    try:
        if suffix in PARQUET:
            return pq.read_table(path)
        if delimiter is not None:
            parse, convert = text_options(delimiter, null_tokens)
            return pcsv.read_csv(path, parse_options=parse, convert_options=convert)
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"cannot read {path}: {err}") from None
    raise DataError(
        f"cannot read {path}: unknown format {suffix or '(none)'!r}; use .parquet, .csv or .tsv"
    )


def write_table(table: pa.Table, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in PARQUET | CSV:
        raise DataError(f"cannot write {path}: use a .parquet or .csv file name for --out")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix in PARQUET:
            pq.write_table(table, path)
        else:
            pcsv.write_csv(table, path)
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"cannot write {path}: {err}") from None


def per_file(values: Sequence[str], n: int, option: str) -> list[str | None]:
    """An option given never, once (for every feature file) or once per feature file; '' = none."""
    given = [v or None for v in values]
    if not given:
        return [None] * n
    if len(given) == 1:
        return given * n
    if len(given) == n:
        return given
    raise click.UsageError(
        f"{option} was given {len(values)} times for {n} feature files: give it once or {n} times"
    )


# ---------------------------------------------------------------- pit-join


@click.command("pit-join")
@click.argument("labels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument(
    "features",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--on",
    "keys",
    multiple=True,
    required=True,
    help="Key column, in labels and features; repeat for several keys.",
)
@click.option(
    "--label-time",
    required=True,
    help="Label time column (tz-aware, or epoch integers with --timestamp-unit).",
)
@click.option(
    "--feature-time",
    multiple=True,
    required=True,
    help="Feature time column: once, or once per file.",
)
@click.option(
    "--created-time", multiple=True, help="When each feature row was written: once, or per file."
)
@click.option(
    "--ttl", multiple=True, help="Maximum feature age, e.g. 7d, 12h, 30m, 45s: once, or per file."
)
@click.option("--prefix", multiple=True, help="Prefix for the added columns: once, or per file.")
@click.option(
    "--strict", is_flag=True, help="Feature times must be strictly before the label time."
)
@click.option(
    "--with-age",
    is_flag=True,
    help="Per feature file, add <prefix><feature-time>_age: label time - feature time of the "
    "picked row, int64 microseconds (null when none was picked).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output .parquet or .csv.",
)
@null_token_option
@timestamp_unit_option
def pit_join(
    labels: Path,
    features: tuple[Path, ...],
    keys: tuple[str, ...],
    label_time: str,
    feature_time: tuple[str, ...],
    created_time: tuple[str, ...],
    ttl: tuple[str, ...],
    prefix: tuple[str, ...],
    strict: bool,
    with_age: bool,
    out: Path,
    null_tokens: tuple[str, ...],
    timestamp_unit: str | None,
) -> int:
    """Join FEATURES onto LABELS as of each label's time: no feature from the label's future."""
    n = len(features)
    columns = zip(
        features,
        per_file(feature_time, n, "--feature-time"),
        per_file(created_time, n, "--created-time"),
        per_file(ttl, n, "--ttl"),
        per_file(prefix, n, "--prefix"),
        strict=True,
    )
    specs = [
        pit.FeatureTable(
            read_table(path, null_tokens),
            feature_time=ft,
            created_time=ct,
            ttl=age,
            prefix=pre,
            name=str(path),
        )
        for path, ft, ct, age, pre in columns
    ]
    joined = pit.join(
        read_table(labels, null_tokens),
        specs,
        on=list(keys),
        label_time=label_time,
        allow_equal=not strict,
        with_age=with_age,
        timestamp_unit=timestamp_unit,
    )
    write_table(joined, out)
    _report_matches(joined, specs, out)
    return 0


def _report_matches(joined: pa.Table, specs: list[pit.FeatureTable], out: Path) -> None:
    # A matched row always has a feature time, so its non-null count is the match count.
    for spec in specs:
        matched = (
            joined.num_rows - joined.column(f"{spec.prefix or ''}{spec.feature_time}").null_count
        )
        ages = ""
        age_name = f"{spec.prefix or ''}{spec.feature_time}_age"
        if age_name in joined.column_names and matched:
            values = joined.column(age_name).drop_null().to_numpy()
            # The empirical quantile (the smallest age with at least that share of rows at or
            # below it; Hyndman & Fan type 1): on few rows the p95 is the stalest, not hidden.
            quantiles = np.quantile(values, [0.5, 0.95], method="inverted_cdf")
            median, p95 = (int(q) for q in quantiles)
            ages = f"; age median {human_duration(median)}, p95 {human_duration(p95)}"
        click.echo(
            f"{spec.name}: {matched:,} of {joined.num_rows:,} label rows matched{ages}", err=True
        )
    click.echo(f"wrote {out}", err=True)


# ---------------------------------------------------------------- audit


@click.command("audit")
@click.argument("table", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--label-time",
    help="Label (prediction) time column (default with --spec: the spec's `time`).",
)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A spec whose as-of columns (`as_of`) are checked as feature times: a value as of "
    "after the prediction time is leakage.",
)
@click.option(
    "--feature-time", multiple=True, help="Column with the time a feature was observed; repeatable."
)
@click.option("--label", help="Label column: enables the single-feature target-leak check.")
@click.option(
    "--auc-threshold",
    type=click.FloatRange(0.5, 1.0),
    default=0.99,
    show_default=True,
    help="Flag a column when max(AUC, 1 - AUC) against a binary label reaches this.",
)
@click.option(
    "--corr-threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.99,
    show_default=True,
    help="Flag a column when |Spearman| against a numeric label reaches this.",
)
@click.option(
    "--min-rows",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Never flag a score computed on fewer rows.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as JSON.",
)
@null_token_option
@timestamp_unit_option
def audit(
    table: Path,
    label_time: str | None,
    spec_path: Path | None,
    feature_time: tuple[str, ...],
    label: str | None,
    auc_threshold: float,
    corr_threshold: float,
    min_rows: int,
    json_out: Path | None,
    null_tokens: tuple[str, ...],
    timestamp_unit: str | None,
) -> int:
    """Look for leakage in a training TABLE. Exit status 1 when any is found."""
    limits = Thresholds(auc=auc_threshold, corr=corr_threshold, min_rows=min_rows)
    if spec_path is not None:
        from featuredsl.compiler.frontend import check_file

        freshness = check_file(spec_path).freshness
        if freshness is None:
            raise click.UsageError(f"{spec_path} declares no prediction time (`time COLUMN`)")
        label_time = label_time or freshness.time
        as_of = [rule.as_of for rule in freshness.inputs]
        feature_time = tuple(dict.fromkeys([*feature_time, *as_of]))
    if label_time is None:
        raise click.UsageError("give --label-time, or --spec with a `time` declaration")
    report = run_audit(
        read_table(table, null_tokens),
        label_time=label_time,
        feature_times=feature_time,
        label=label,
        thresholds=limits,
        name=str(table),
        timestamp_unit=timestamp_unit,
    )
    if json_out is not None:
        _write_json(report, json_out)
    render(report, str(table), make_console())
    return 1 if report.leaky else 0


def _write_json(report: AuditReport, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    except OSError as err:
        raise DataError(f"cannot write {path}: {err}") from None


def render(report: AuditReport, name: str, console: Console) -> None:
    console.print(
        f"[bold]Leakage audit[/bold] of {name}: {report.rows:,} rows, label time {report.label_time!r}"
    )
    _render_future_rows(report, console)
    _render_scores(report, console)
    _render_post_label(report, console)
    for note in report.notes:
        console.print(f"[dim]note: {note}[/dim]")
    if report.leaky:
        console.print("[bold red]LEAKAGE FOUND[/bold red]: fix the findings above before training.")
    else:
        console.print("[bold green]No leakage found.[/bold green]")


def _render_future_rows(report: AuditReport, console: Console) -> None:
    if not report.future_rows:
        console.print("Future rows: not checked (no --feature-time).")
        return
    table = Table(title="Feature times after the label time", title_justify="left")
    for header in ("feature time", "rows checked", "after label time"):
        table.add_column(header)
    for found in report.future_rows:
        style = "red" if found.flagged else "green"
        table.add_row(
            found.feature_time, f"{found.checked:,}", f"[{style}]{found.count:,}[/{style}]"
        )
    console.print(table)
    for found in report.future_rows:
        if found.examples:
            examples = Table(
                title=f"First rows where {found.feature_time} > label time", title_justify="left"
            )
            for header in ("row", "label time", "feature time"):
                examples.add_column(header)
            for e in found.examples:
                examples.add_row(str(e.row), e.label_time, e.feature_time)
            console.print(examples)


def _render_scores(report: AuditReport, console: Console) -> None:
    if report.label is None or report.label_kind is None:
        if report.label is None:
            console.print("Target leaks: not checked (no --label).")
        return
    leaks = report.target_leaks
    if not leaks:
        best = report.scores[0] if report.scores else None
        detail = (
            f" (strongest: {best.column} {best.signal}, {best.metric} {best.score:.3f})"
            if best
            else ""
        )
        console.print(
            f"Target leaks: no column predicts {report.label!r} suspiciously well{detail}."
        )
        return
    title = f"Columns that alone predict {report.label!r} almost perfectly"
    table = Table(title=title, title_justify="left")
    for header in ("column", "signal", "metric", "score", "strength", "rows"):
        table.add_column(header)
    for s in leaks:
        table.add_row(
            s.column,
            s.signal,
            s.metric,
            f"{s.score:.4f}",
            f"[red]{s.strength:.4f}[/red]",
            f"{s.rows:,}",
        )
    console.print(table)


def _render_post_label(report: AuditReport, console: Console) -> None:
    if not report.post_label_columns:
        console.print("Post-label columns: none found.")
        return
    table = Table(
        title="Columns whose values only exist after the label time", title_justify="left"
    )
    for header in ("column", "why", "values known in time", "values from later"):
        table.add_column(header)
    for c in report.post_label_columns:
        why = (
            "every value is after the label time"
            if c.reason == "all_after_label_time"
            else f"only in rows where {c.feature_time} > label time"
        )
        table.add_row(c.column, why, f"{c.before:,}", f"[red]{c.after:,}[/red]")
    console.print(table)
