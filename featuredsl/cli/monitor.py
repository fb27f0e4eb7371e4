"""`featuredsl profile`, `featuredsl skew` and `featuredsl replay`."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from featuredsl.cli.console import (
    RowsProgress,
    batch_rows_option,
    make_console,
    null_token_option,
    quiet_option,
    timestamp_unit_option,
)
from featuredsl.errors import ArtifactError, DataError
from featuredsl.ingest.batches import DEFAULT_BATCH_ROWS
from featuredsl.monitor.severity import SEVERITIES

SEVERITY_STYLE = {
    "none": "green",
    "minor": "yellow",
    "moderate": "dark_orange",
    "severe": "bold red",
}


def _load_artifact(build_dir: str) -> Any:
    try:
        artifacts = importlib.import_module("featuredsl.artifact.load")
    except ImportError as err:
        raise ArtifactError(f"cannot load build directories in this installation ({err})") from None
    return artifacts.load(build_dir)


@click.command()
@click.argument("build_dir", required=False, type=click.Path(file_okay=False))
@click.option(
    "--data",
    "data_paths",
    multiple=True,
    type=click.Path(),
    help="Training data (Parquet or CSV file, directory or glob, read in slices); repeat for "
    "partitions, which are profiled and merged.",
)
@click.option(
    "--merge",
    "merge_paths",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="An existing profile to merge in (e.g. of another partition); repeatable.",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="Profile JSON to write."
)
@click.option(
    "--inputs/--no-inputs", default=True, show_default=True, help="Also profile raw inputs."
)
@click.option("--batch-rows", default=262_144, show_default=True, help="Rows read per slice.")
@null_token_option
@quiet_option
@timestamp_unit_option
def profile(
    build_dir: str | None,
    data_paths: tuple[str, ...],
    merge_paths: tuple[str, ...],
    out: str,
    inputs: bool,
    batch_rows: int,
    null_tokens: tuple[str, ...],
    quiet: bool,
    timestamp_unit: str | None,
) -> int:
    """Store a reference profile of BUILD_DIR's features on training data (no raw data kept)."""
    from featuredsl.monitor.profile import Profile

    if not data_paths and not merge_paths:
        raise click.UsageError("give --data (with BUILD_DIR) and/or --merge profiles")
    if data_paths and build_dir is None:
        raise click.UsageError("--data needs the BUILD_DIR whose features to compute")
    result: Profile | None = None
    if data_paths:
        artifact = _load_artifact(str(build_dir))
        if getattr(artifact, "event_sources", ()):  # a build with window aggregates
            raise click.UsageError(
                f"{build_dir} has window aggregates, whose rows need their events: compute the "
                "features first (featuredsl transform DIR --data PATH --events SOURCE=PATH --out "
                "features.parquet), then profile or compare that table (featuredsl skew "
                "--reference features.parquet ...); docs/windows.md"
            )
        with RowsProgress(quiet) as bar:
            result = _profile_paths(
                artifact, data_paths, batch_rows, null_tokens, inputs, bar, timestamp_unit
            )
    for path in merge_paths:
        other = Profile.load(path)
        result = other if result is None else result.merge(other)
    assert result is not None
    result.save(out)
    features = result.groups.get("features", {})
    click.echo(
        f"wrote {out}: {result.rows('features'):,} rows, {len(features)} features"
        + (f", {len(result.groups['inputs'])} inputs" if "inputs" in result.groups else "")
    )
    return 0


def _profile_paths(
    artifact: Any,
    paths: tuple[str, ...],
    batch_rows: int,
    null_tokens: tuple[str, ...],
    inputs: bool,
    bar: RowsProgress,
    timestamp_unit: str | None = None,
) -> Any:
    """The merged profile of every slice of every path (a progress bar per path on a terminal)."""
    from featuredsl.ingest.batches import open_source
    from featuredsl.monitor.columns import (
        FEATURES,
        INPUTS,
        Dataset,
        columns_from_feed,
        columns_from_matrix,
    )
    from featuredsl.monitor.freshness import with_ages
    from featuredsl.monitor.profile import profile_dataset
    from featuredsl.monitor.sources import iter_batches

    result = None
    for path in paths:
        total = open_source(path, artifact.program_inputs).rows if bar.enabled else 0
        done = 0
        for table in iter_batches(path, batch_rows, null_tokens):
            where = f"{path}: "
            feed = artifact.feed(table, timestamp_unit=timestamp_unit)
            features = artifact.transform_feed(feed)
            groups = {FEATURES: columns_from_matrix(artifact.feature_names, features, where=where)}
            if inputs:
                groups[INPUTS] = columns_from_feed(feed, where=where)
            ages = with_ages(Dataset(groups, source=path), _freshness_of(artifact))
            part = profile_dataset(ages, fingerprint=artifact.fingerprint)
            result = part if result is None else result.merge(part)
            done += table.num_rows
            bar.update(f"profiling {path}", done, max(total, done))
    return result


@click.command()
@click.option(
    "--reference",
    "reference_path",
    type=click.Path(),
    help="Training features: Parquet, CSV, a serving log or a profile JSON.",
)
@click.option(
    "--profile", "profile_path", type=click.Path(dir_okay=False), help="Reference profile JSON."
)
@click.option(
    "--current",
    "current_path",
    required=True,
    type=click.Path(),
    help="Served features: Parquet, CSV or a serving log.",
)
@click.option(
    "--html", "html_path", type=click.Path(dir_okay=False), help="Write the HTML report here."
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Write the JSON report here."
)
@click.option(
    "--score-column",
    "score_columns",
    multiple=True,
    help="A Parquet/CSV column holding model scores (prediction monitor); repeatable.",
)
@click.option(
    "--fail-on",
    type=click.Choice([*SEVERITIES[1:], "never"]),
    default="moderate",
    show_default=True,
    help="Exit 1 when any column is at least this severe.",
)
@click.option(
    "--build",
    "build_dir",
    type=click.Path(file_okay=False),
    help="The data files (Parquet/CSV/TSV) hold raw inputs: compute their features (and keep "
    "the inputs) with this build first. Profiles and serving logs are used as they are.",
)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(dir_okay=False),
    help="A spec whose `time` and `as_of` declarations define the ages of the freshness "
    "section (with --build, the build's spec is used).",
)
@click.option(
    "--consistency",
    "consistency_path",
    type=click.Path(exists=True, dir_okay=False),
    help="A `featuredsl consistency --json` report to add to the HTML report as its "
    "offline/online consistency section.",
)
@click.option(
    "--exact-values",
    "exact_values",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Numeric columns of a data side keep their distinct values exactly up to N per column "
    "(default 65,536; 16 bytes each), then are counted in order-preserving buckets of at most "
    "N (docs/scale.md).",
)
@batch_rows_option
@null_token_option
@quiet_option
@timestamp_unit_option
def skew(
    reference_path: str | None,
    profile_path: str | None,
    current_path: str,
    html_path: str | None,
    json_path: str | None,
    score_columns: tuple[str, ...],
    fail_on: str,
    build_dir: str | None,
    spec_path: str | None,
    consistency_path: str | None,
    exact_values: int | None,
    batch_rows: int | None,
    null_tokens: tuple[str, ...],
    quiet: bool,
    timestamp_unit: str | None,
) -> int:
    """Distribution skew of CURRENT against REFERENCE (or a stored --profile), and, when the
    spec declares as-of times, the freshness of each input in training and in serving.

    Data sides (Parquet/CSV files, directories, globs) are read in batches of --batch-rows rows
    and summarised column by column as they stream: memory is bounded by the batch size and
    the report does not depend on it."""
    from featuredsl.monitor.columns import Dataset, with_temporal
    from featuredsl.monitor.freshness import compare_freshness, with_ages
    from featuredsl.monitor.report import write_html
    from featuredsl.monitor.skew import compare, with_scores
    from featuredsl.monitor.sources import load_source
    from featuredsl.monitor.streaming import SKEW_DISTINCT_CAP, Summaries

    if (reference_path is None) == (profile_path is None):
        raise click.UsageError("give exactly one of --reference and --profile")
    artifact = _load_artifact(build_dir) if build_dir is not None else None
    freshness = _freshness_of(artifact) if artifact is not None else None
    if spec_path is not None:
        from featuredsl.compiler.frontend import check_file

        freshness = check_file(spec_path).freshness

    instants = (
        [c.name for c in artifact.program_inputs if c.dtype.value == "timestamp"]
        if artifact is not None
        else []
    )
    stream = _StreamOptions(
        batch_rows or DEFAULT_BATCH_ROWS,
        exact_values or SKEW_DISTINCT_CAP,
        null_tokens,
        timestamp_unit,
        freshness,
    )

    def side(path: str, bar: RowsProgress) -> Any:
        if _is_data(path):
            source: Any = _streamed(artifact, path, stream, bar)
        else:
            source = load_source(path, null_values=null_tokens)
        # The spec says which int64 inputs are instants (a log or feed cannot): dates and
        # time advice for them, not "check units".
        if isinstance(source, Summaries):
            return source.with_temporal(instants)
        return with_temporal(source, instants) if isinstance(source, Dataset) else source

    with RowsProgress(quiet) as bar:
        reference = side(str(reference_path or profile_path), bar)
        current = side(current_path, bar)
    if not isinstance(current, (Dataset, Summaries)):
        raise DataError(
            f"{current_path}: the current side must be data or a serving log, not a profile"
        )
    current = with_scores(current, score_columns)
    if isinstance(reference, (Dataset, Summaries)):
        reference = with_scores(reference, score_columns)
    report = compare(reference, current)
    if freshness is not None:

        def aged(side: Any) -> Any:  # streamed sides got their ages batch by batch
            return with_ages(side, freshness) if isinstance(side, Dataset) else side

        stale = compare_freshness(aged(reference), aged(current), freshness)
        report = dataclasses.replace(report, freshness=stale)
    _print_skew(report)
    if html_path:
        consistency = None
        if consistency_path is not None:
            import json

            from featuredsl.monitor.report import consistency_context

            try:
                consistency = json.loads(Path(consistency_path).read_text(encoding="utf-8"))
                consistency_context(consistency)
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise DataError(
                    f"{consistency_path}: not a `featuredsl consistency --json` report ({err!r})"
                ) from None
        write_html(report, html_path, consistency=consistency)
        click.echo(f"wrote {html_path}")
    if json_path:
        Path(json_path).write_text(report.to_json(), encoding="utf-8")
        click.echo(f"wrote {json_path}")
    if fail_on == "never":
        return 0
    flagged = report.flagged(fail_on) or report.stale(fail_on)  # type: ignore[arg-type]
    return 1 if flagged else 0


def _freshness_of(artifact: Any) -> Any:
    """The Freshness of a loaded build (None when its spec declares no prediction time)."""
    from featuredsl.compiler.ir import Freshness

    manifest = getattr(artifact, "manifest", None) or {}
    return Freshness.from_json(manifest.get("freshness"))


def _is_log(path: str) -> bool:
    from featuredsl.monitor.sources import SQLITE_MAGIC

    if not Path(path).is_file():  # a directory or glob of data files
        return False
    with open(path, "rb") as handle:
        return handle.read(16) == SQLITE_MAGIC


@dataclasses.dataclass(frozen=True)
class _StreamOptions:
    batch_rows: int
    distinct_cap: int
    null_tokens: tuple[str, ...]
    timestamp_unit: str | None
    freshness: Any


def _is_data(path: str) -> bool:
    """A data side to stream: a directory, a glob, or a Parquet/CSV/TSV file."""
    from featuredsl.ingest.batches import data_files, is_stream_path

    if is_stream_path(path):
        return True
    if not Path(path).is_file() or _is_log(path) or path.lower().endswith(".json"):
        return False
    try:
        data_files(path)
    except DataError:
        return False
    return True


def _streamed(artifact: Any, path: str, options: _StreamOptions, bar: RowsProgress) -> Any:
    """The Summaries of a data side, batch by batch: with a build, the features (and the raw
    inputs) its numpy module computes from the raw inputs; without, the file's columns as
    features. Ages (freshness) are added per batch."""
    from featuredsl.ingest.batches import open_source
    from featuredsl.monitor.columns import (
        FEATURES,
        INPUTS,
        Dataset,
        columns_from_feed,
        columns_from_matrix,
        columns_from_table,
    )
    from featuredsl.monitor.freshness import with_ages
    from featuredsl.monitor.sources import iter_batches, parquet_rows
    from featuredsl.monitor.streaming import summarize_batches

    where = f"{path}: "

    def batches() -> Any:
        if artifact is not None:
            source = open_source(
                path,
                artifact.program_inputs,
                batch_rows=options.batch_rows,
                null_values=options.null_tokens,
                timestamp_unit=options.timestamp_unit,
            )
            total = source.rows if bar.enabled else 0
            for _, feed in source.batches():
                features = artifact.transform_feed(feed)
                groups = {
                    FEATURES: columns_from_matrix(artifact.feature_names, features, where=where),
                    INPUTS: columns_from_feed(feed, where=where),
                }
                batch = Dataset(groups, source=path, fingerprints=(artifact.fingerprint,))
                yield with_ages(batch, options.freshness), total
        else:
            total = parquet_rows(path) if bar.enabled else 0
            for table in iter_batches(path, options.batch_rows, options.null_tokens):
                batch = Dataset({FEATURES: columns_from_table(table, where=where)}, source=path)
                yield with_ages(batch, options.freshness), total

    done = 0

    def counted() -> Any:
        nonlocal done
        for batch, total in batches():
            yield batch
            done += batch.rows(FEATURES)
            bar.update(f"summarising {path}", done, max(total, done))

    return summarize_batches(counted(), path, distinct_cap=options.distinct_cap)


def _print_freshness(report: Any, console: Any) -> None:
    from featuredsl.language.durations import human_duration

    if not report.freshness:
        return
    table = Table(title="freshness: ages in training vs serving", show_edge=False)
    for header in ("input", "severity", "training median / p95", "serving median / p95", "why"):
        table.add_column(header, overflow="fold")

    def ages(side: Any) -> str:
        if side.median is None:
            return "n/a"
        over = "" if side.over_budget is None else f", {side.over_budget:.0%} over budget"
        return f"{human_duration(side.median)} / {human_duration(side.p95)}{over}"

    for f in report.freshness:
        table.add_row(
            f.column,
            f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/]",
            ages(f.training),
            ages(f.serving),
            f.reason,
        )
    console.print(table)


def _print_skew(report: Any) -> None:
    console = make_console()
    counts = report.counts()
    console.print(
        f"skew of {report.current} against {report.reference}: "
        + ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES))
    )
    for note in report.notes:
        console.print(f"note: {note}", style="yellow")
    _print_freshness(report, console)
    flagged = report.flagged()
    if not flagged:
        return
    table = Table(show_edge=False)
    for header in ("feature", "group", "severity", "why", "recommendation"):
        table.add_column(header, overflow="fold")
    for f in flagged:
        table.add_row(
            f.name,
            f.group,
            f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/]",
            f.reason,
            f.recommendation,
        )
    console.print(table)


@click.command()
@click.argument("build_dir", type=click.Path(file_okay=False))
@click.option(
    "--log",
    "log_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Serving log (SQLite).",
)
@click.option(
    "--threshold",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Exit 1 when a feature's mismatch rate (mismatch + missing + extra) exceeds this.",
)
@click.option(
    "--fingerprint-threshold",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Exit 1 when more than this share of rows was served by another artifact.",
)
@click.option("--rtol", default=1e-9, show_default=True, help="Relative tolerance per value.")
@click.option("--atol", default=1e-12, show_default=True, help="Absolute tolerance per value.")
@click.option("--exact", is_flag=True, help="Compare bits (no tolerance; -0.0 != 0.0).")
@click.option("--examples", default=5, show_default=True, help="Example rows kept per feature.")
@click.option("--limit", type=int, default=None, help="Replay only the first N requests.")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Write the JSON report here."
)
def replay(
    build_dir: str,
    log_path: str,
    threshold: float,
    fingerprint_threshold: float,
    rtol: float,
    atol: float,
    exact: bool,
    examples: int,
    limit: int | None,
    json_path: str | None,
) -> int:
    """Recompute logged requests' features with BUILD_DIR's training module; compare with served."""
    from featuredsl.monitor.replay import replay as run_replay

    artifact = _load_artifact(build_dir)
    report = run_replay(
        artifact.transform_feed,
        artifact.fingerprint,
        artifact.feature_names,
        log_path,
        rtol=rtol,
        atol=atol,
        exact=exact,
        threshold=threshold,
        fingerprint_threshold=fingerprint_threshold,
        max_examples=examples,
        limit=limit,
    )
    click.echo(report.render_text())
    if json_path:
        Path(json_path).write_text(report.to_json(), encoding="utf-8")
        click.echo(f"wrote {json_path}")
    return 1 if report.failed else 0
