"""`featuredsl consistency`: served values against the offline table, point-in-time correct."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from featuredsl.cli.console import (
    events_option,
    make_console,
    null_token_option,
    timestamp_unit_option,
)
from featuredsl.cli.pit import read_table
from featuredsl.language.durations import human_duration
from featuredsl.monitor.jsonable import jsonable
from featuredsl.monitor.store_consistency import (
    StoreConsistencyReport,
    check_store_consistency,
    logged_table,
)


@click.command("consistency")
@click.option(
    "--log",
    "log_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The serving log (SQLite) whose requests to check.",
)
@click.option(
    "--offline",
    "offline_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The offline table (Parquet, CSV or TSV).",
)
@click.option("--on", "keys", multiple=True, help="Entity key column; repeat for several.")
@click.option(
    "--time",
    "time_column",
    help="The prediction-time column of the logged requests (default with --build: the "
    "spec's `time`).",
)
@click.option(
    "--build",
    "build_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The served build directory: its spec's `time` is the default --time.",
)
@click.option(
    "--offline-time",
    help="The offline table's time column: when each row became valid.",
)
@click.option(
    "--column",
    "columns",
    multiple=True,
    help="A column to compare; repeatable (default: every column both sides have).",
)
@click.option("--fingerprint", help="Only the requests served by this feature fingerprint.")
@click.option("--worst", default=10, show_default=True, help="Keys listed, most mismatched first.")
@click.option(
    "--fail-above",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Exit 1 when the share of mismatched rows is above this.",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write JSON here.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write HTML here.")
@null_token_option
@timestamp_unit_option
@events_option
def consistency(
    log_path: Path,
    offline_path: Path | None,
    keys: tuple[str, ...],
    time_column: str | None,
    build_dir: Path | None,
    offline_time: str | None,
    columns: tuple[str, ...],
    fingerprint: str | None,
    worst: int,
    fail_above: float,
    json_path: str | None,
    html_path: str | None,
    null_tokens: tuple[str, ...],
    timestamp_unit: str | None,
    events: dict[str, str],
) -> int:
    """Compare the raw values a serving LOG served with the OFFLINE table at each request's
    prediction time: match and mismatch rates, missing values, worst keys, sync lag. With
    --build of a spec with window aggregates and --events, compare each served window with the
    backfill from the offline event tables too (stream lag)."""
    status = 0
    if events:
        if build_dir is None:
            raise click.UsageError("--events needs --build (the spec declares the windows)")
        if html_path and offline_path is None:
            raise click.UsageError(
                "--html renders the offline-table comparison (--offline); the window section is "
                "printed and written by --json"
            )
        status = _windows(
            build_dir,
            log_path,
            events,
            fingerprint,
            fail_above,
            timestamp_unit,
            null_tokens,
            json_path if offline_path is None else None,
        )
        if offline_path is None:
            return status
    if offline_path is None or not keys or offline_time is None:
        raise click.UsageError(
            "give --offline, --on and --offline-time (or --events with --build for windows)"
        )
    if time_column is None and build_dir is not None:
        from featuredsl.artifact.load import load
        from featuredsl.compiler.ir import Freshness

        freshness = Freshness.from_json(load(build_dir).manifest.get("freshness"))
        time_column = freshness.time if freshness is not None else None
    if time_column is None:
        raise click.UsageError(
            "give --time (the logged prediction-time column), or --build of a spec that declares "
            "it with `time COLUMN`"
        )
    report = check_store_consistency(
        logged_table(log_path, fingerprint=fingerprint),
        read_table(offline_path, null_tokens),
        on=keys,
        time=time_column,
        offline_time=offline_time,
        columns=columns or None,
        worst=worst,
        timestamp_unit=timestamp_unit,
    )
    _print(report)
    if json_path:
        Path(json_path).write_text(to_json(report), encoding="utf-8")
        click.echo(f"wrote {json_path}")
    if html_path:
        Path(html_path).write_text(
            render_html(report, str(log_path), str(offline_path)), encoding="utf-8"
        )
        click.echo(f"wrote {html_path}")
    if report.rows and report.matched_rows + report.mismatched_rows == 0:
        click.echo(
            "fail: no served row could be compared (no offline row at any prediction time): "
            "check --on, --offline-time and its unit (--timestamp-unit)",
            err=True,
        )
        return 1
    return max(status, 1 if report.mismatch_rate > fail_above else 0)


def _windows(
    build_dir: Path,
    log_path: Path,
    events: dict[str, str],
    fingerprint: str | None,
    fail_above: float,
    timestamp_unit: str | None,
    null_tokens: tuple[str, ...] = (),
    json_path: str | None = None,
) -> int:
    """The window section: served windows against the backfill (and its JSON at `json_path`);
    its exit status."""
    from featuredsl.artifact.load import load
    from featuredsl.monitor.window_consistency import check_window_consistency

    manifest = load(build_dir).manifest
    report = check_window_consistency(
        manifest,
        log_path,
        events,
        fingerprint=fingerprint,
        timestamp_unit=timestamp_unit,
        null_values=null_tokens,
    )
    console = make_console()
    table = Table(
        title=f"window aggregates: served events vs the offline event log ({report.rows:,} rows)",
        title_justify="left",
    )
    for header in ("window", "match", "mismatch", "match rate"):
        table.add_column(header, justify="left" if header == "window" else "right")
    for window in report.windows:
        table.add_row(
            window.expression,
            f"{window.match:,}",
            f"{window.mismatch:,}",
            f"{100 * window.match_rate:.2f}%",
        )
    console.print(table)
    if report.lag is not None and report.lag.explained:
        lag = report.lag
        console.print(
            f"stream lag: the served events miss the offline log's latest "
            f"{human_duration(lag.low)} to {human_duration(lag.high)} before each window's end "
            f"(explains {lag.explained:,} of {lag.mismatched:,} mismatched rows)"
        )
    if json_path:
        data = jsonable(report)
        data["mismatch_rate"] = report.mismatch_rate
        Path(json_path).write_text(json.dumps({"windows": data}, indent=1) + "\n", "utf-8")
        click.echo(f"wrote {json_path}")
    if report.rows == 0:
        click.echo(
            f"fail: {log_path} has no request of this build (fingerprint "
            f"{(fingerprint or manifest['fingerprint'])[:16]}) to compare",
            err=True,
        )
        return 1
    if report.mismatch_rate > fail_above:
        click.echo(
            f"fail: {report.mismatched_rows:,} of {report.rows:,} rows have a window that differs "
            f"from the offline event log (more than --fail-above {fail_above})",
            err=True,
        )
        return 1
    return 0


def to_json(report: StoreConsistencyReport) -> str:
    """The report as JSON: counts, rates, per-column outcomes, worst keys, lag (microseconds)."""
    data = jsonable(report)
    data.update(
        match_rate=report.match_rate,
        mismatch_rate=report.mismatch_rate,
        headline=report.headline(),
        lag_text=report.lag_text(),
    )
    return json.dumps(data, indent=1) + "\n"


def render_html(report: StoreConsistencyReport, log: str, offline: str) -> str:
    """The consistency section as an HTML page in the skew report's style."""
    from featuredsl.monitor.report import consistency_context, render_page

    return render_page(
        "consistency.html.j2",
        title="featuredsl consistency report",
        log=log,
        offline=offline,
        consistency=consistency_context(json.loads(to_json(report))),
    )


def _print(report: StoreConsistencyReport) -> None:
    console = make_console()
    console.print(report.headline())
    console.print(report.lag_text())
    table = Table(show_edge=False)
    for header in ("column", "match rate", "mismatch", "missing online", "missing offline"):
        table.add_column(header, overflow="fold")
    for c in report.columns:
        table.add_row(
            c.name,
            f"{c.match_rate:.2%}",
            f"{c.mismatch:,}",
            f"{c.missing_online:,}",
            f"{c.missing_offline:,}",
        )
    console.print(table)
    if report.worst_keys:
        keys = Table(title="worst keys", show_edge=False)
        for header in ("key", "requests", "mismatched"):
            keys.add_column(header)
        for k in report.worst_keys:
            keys.add_row(k.key, f"{k.rows:,}", f"{k.mismatched:,}")
        console.print(keys)
