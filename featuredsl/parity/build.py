"""The verified build behind `featuredsl build`: check, fit, write both artifacts, then prove they
agree on a data sample and the edge cases. It sits in `parity` because it runs the parity check."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifact.contract import FAILED_FILE, MANIFEST_FILE
from featuredsl.artifact.load import build_files, remove_stale
from featuredsl.artifact.spec import FittedSpec, RowsHook, SpecLike, as_spec
from featuredsl.errors import DataError, FeatureDSLError
from featuredsl.ingest.batches import open_source
from featuredsl.ingest.feed import take as feed_take
from featuredsl.parity.runner import ParityReport, run_parity

SAMPLE_ROWS = 2_000


class ParityError(FeatureDSLError):
    """The two artifacts disagree: the build is not usable."""


WIDE_FEATURE = 1_000
"""A feature with more output columns than this gets a build warning: its dense output costs
8 bytes x rows x columns (a one-hot of 4,045 categories: 10.9 GB for 336k rows); take it as
scipy.sparse CSR with transform(..., sparse=True) or FeatureTransformer(sparse=True)."""


@dataclass(frozen=True)
class BuildReport:
    fitted: FittedSpec
    files: dict[str, Path]
    fit_seconds: float
    parity: ParityReport
    warnings: tuple[str, ...] = ()


def width_warnings(fitted: FittedSpec) -> tuple[str, ...]:
    """A warning per feature wider than WIDE_FEATURE output columns."""
    out = []
    for feature in fitted.program.features:
        width = len(feature.column_names or ())
        if width > WIDE_FEATURE:
            out.append(
                f"feature {feature.name!r} has {width:,} columns (more than {WIDE_FEATURE:,}): "
                f"dense, it takes {8 * width:,} bytes per row; use transform(..., sparse=True) "
                "or FeatureTransformer(sparse=True) for a scipy.sparse CSR matrix"
            )
    return tuple(out)


PARITY_SAMPLE_BATCH = 256
"""The build's parity check runs the sample in batches of this many rows (a progress bar moves
with each; the report is that of all rows at once, featuredsl.parity.compare.CompareAcc)."""


def _quiet(what: str, done: int, total: int) -> None:
    return None


def sample_indices(rows: int, limit: int = SAMPLE_ROWS) -> np.ndarray:
    """A deterministic spread of rows: all when few, else evenly spaced ones."""
    if rows <= limit:
        return np.arange(rows)
    return np.unique(np.linspace(0, rows - 1, limit).astype(np.int64))


def take(feed: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return feed_take(feed, rows)


def build(
    spec_path: SpecLike,
    data: Any,
    out: str | Path,
    float32: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    strict: bool = False,
    batch_rows: int | None = None,
    null_values: tuple[str, ...] = (),
    rows_progress: RowsHook | None = None,
    timestamp_unit: str | None = None,
    events: Mapping[str, Any] | None = None,
) -> BuildReport:
    """The verified build behind `featuredsl build`: check, fit, write, prove parity, publish.

    Args:
        spec_path: the .fdsl file.
        data: the training data (a Parquet/CSV path, a DataFrame, an Arrow table, a dict of
            columns; see `Spec.fit`).
        out: the build directory. Files are written to a staging directory next to it and
            moved in (manifest last) only after the numpy module and the ONNX graph agree bit
            for bit on a 2,000-row data sample and the edge cases; a failed build leaves `out`
            as it was and its files in `<out>.failed` (which `featuredsl.load` refuses).
        float32: also write features.f32.onnx (output rounded once to float32).
        progress: called with a short description of each step.
        strict: refuse to build when the data-quality report has findings.
        batch_rows: a path (file, directory, glob, partitioned Parquet) is streamed in batches
            of this many rows (default DEFAULT_BATCH_ROWS); memory is bounded by it and the
            artifacts do not depend on it, byte for byte.
        null_values: extra null tokens of text files.
        rows_progress: called after every streamed batch with (pass, rows done, rows).
        timestamp_unit: the unit of bare integers in timestamp columns ("s", "ms", "us",
            "ns"); without it they are refused (see `Spec.fit`).
        events: a spec with window aggregates needs each event source's table, by name (see
            `Spec.fit`); the parity sample then carries its rows' events (docs/windows.md).

    Returns:
        A BuildReport: the fitted spec, the written files, the fit time (seconds) and the
        parity report.

    Raises:
        DiagnosticError: the spec does not check. DataError: bad training data, or findings
        with `strict`. ParityError: the two artifacts disagree.
    """
    progress("checking spec")
    spec = as_spec(spec_path, "build(spec)")
    started = time.perf_counter()
    if spec.program.windows:
        progress("reading training data and events, backfilling the windows")
        fitted, sample = spec.fit_windows(
            data,
            events,
            "training data",
            timestamp_unit,
            sample=SAMPLE_ROWS,
            batch_rows=batch_rows,
            progress=rows_progress or _quiet,
            null_values=null_values,
        )
    elif isinstance(data, (str, Path)):
        progress("fitting analyzers")
        stream = open_source(
            data,
            spec.inputs,
            batch_rows=batch_rows,
            null_values=null_values,
            timestamp_unit=timestamp_unit,
        )
        rows = sample_indices(stream.rows)
        fitted, sample = spec.fit_stream(stream, keep=rows, progress=rows_progress or _quiet)
    else:
        progress("reading training data")
        feed = spec.feed(data, source="training data", timestamp_unit=timestamp_unit)
        progress("fitting analyzers")
        fitted = spec.fit_feed(feed)
        sample = take(feed, sample_indices(len(next(iter(feed.values())))))
    fit_seconds = time.perf_counter() - started
    return finish_build(
        fitted, sample, out, fit_seconds, float32, strict, progress, rows_progress=rows_progress
    )


def finish_build(
    fitted: FittedSpec,
    sample: dict[str, np.ndarray],
    out: str | Path,
    fit_seconds: float,
    float32: bool = False,
    strict: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    rows_progress: RowsHook | None = None,
) -> BuildReport:
    """The steps of `build` after the fit: the data-quality gate (`strict`), write to a staging
    directory, prove parity on `sample` (training rows as a feed) and the edge cases, publish.
    Raises as `build`."""
    findings = fitted.quality.findings if fitted.quality else ()
    if strict and findings:
        raise DataError(
            f"build {out}: the training data fails the data-quality checks (--strict):\n"
            + "\n".join(f"  - {finding}" for finding in findings)
        )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FeatureDSLError(f"{out}: exists and is not a directory; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written next to the target and moved in only once the checks pass, so that a build that
    # fails them never replaces a good one and never becomes loadable.
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        progress("writing artifacts")
        fitted.save(staging, float32=float32)
        progress("checking parity on a data sample and the edge cases")
        report = run_parity(
            staging, data_feed=sample, batch_rows=PARITY_SAMPLE_BATCH, progress=rows_progress
        )
        report.directory = str(out)
        if not report.ok:
            failed = _keep_failed(staging, out, report.format())
            raise ParityError(
                f"build {out}: the numpy module and the ONNX graph disagree:\n{report.format()}\n"
                f"{out} was left as it was; the failed artifacts are in {failed} for "
                "inspection (featuredsl.load refuses them)"
            )
        files = publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BuildReport(fitted, files, fit_seconds, report, width_warnings(fitted))


def publish(staging: Path, out: Path) -> dict[str, Path]:
    """Move a checked build from `staging` into `out`, the manifest last, and delete what an
    earlier build left in `out` that this one does not write; -> the final paths by name.

    Files of `out` that no build wrote (a kit's node_modules, verification.json) stay."""
    out.mkdir(parents=True, exist_ok=True)
    earlier = build_files(out)
    names = [*sorted(build_files(staging) - {MANIFEST_FILE}), MANIFEST_FILE]
    written = {}
    for name in names:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, target)
        written[name] = target
    remove_stale(out, earlier, set(names))
    failed = out.with_name(out.name + ".failed")
    if (failed / FAILED_FILE).exists():
        shutil.rmtree(failed)  # an earlier failed attempt: this build supersedes it
    return written


def _keep_failed(staging: Path, out: Path, reason: str) -> Path:
    """Move the artifacts of a failed build to `<out>.failed`, marked so that loading refuses
    them with `reason`."""
    failed = out.with_name(out.name + ".failed")
    if failed.exists():
        shutil.rmtree(failed)
    (staging / FAILED_FILE).write_text(
        json.dumps({"reason": reason}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.replace(staging, failed)
    return failed
