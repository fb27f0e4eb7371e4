"""`featuredsl build`: check, fit, write both artifacts, then prove they agree on a sample."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifacts import FittedSpec, load, load_spec
from featuredsl.errors import FeatureDSLError
from featuredsl.parity.compare import Comparison, compare, feature_bounds

SAMPLE_ROWS = 2_000


class ParityError(FeatureDSLError):
    """The two artifacts disagree: the build is not usable."""


@dataclass(frozen=True)
class BuildReport:
    fitted: FittedSpec
    files: dict[str, Path]
    rows: int
    fit_seconds: float
    comparison: Comparison


def sample_indices(rows: int, limit: int = SAMPLE_ROWS) -> np.ndarray:
    """A deterministic spread of rows: all when few, else evenly spaced ones."""
    if rows <= limit:
        return np.arange(rows)
    return np.unique(np.linspace(0, rows - 1, limit).astype(np.int64))


def take(feed: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[rows] for name, values in feed.items()}


def build(
    spec_path: str | Path,
    data: Any,
    out: str | Path,
    float32: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> BuildReport:
    progress("checking spec")
    spec = load_spec(spec_path)
    progress("reading training data")
    from featuredsl.data import read_table

    table = read_table(data) if isinstance(data, (str, Path)) else data
    started = time.perf_counter()
    progress("fitting analyzers")
    fitted = spec.fit(table, source=str(data) if isinstance(data, (str, Path)) else "training data")
    fit_seconds = time.perf_counter() - started
    progress("writing artifacts")
    files = fitted.save(out, float32=float32)
    progress("checking parity on a sample")
    comparison, rows = verify(out, fitted, table)
    if not comparison.ok:
        bad = [c for c in comparison.columns if c.violations]
        details = ", ".join(f"{c.name} ({c.violations} rows, max {c.max_ulp:g} ULP)" for c in bad)
        raise ParityError(f"build {out}: the numpy module and the ONNX graph disagree on {details}")
    return BuildReport(fitted, files, rows, fit_seconds, comparison)


def verify(out: str | Path, fitted: FittedSpec, data: Any) -> tuple[Comparison, int]:
    """Run the written artifacts (not the in-memory ones) on a sample of the training data."""
    artifacts = load(out)
    feed = fitted.feed(data)
    rows = len(next(iter(feed.values())))
    sample = take(feed, sample_indices(rows))
    expected = artifacts.transform_feed(sample)
    actual = artifacts.run_onnx(sample)
    bounds = feature_bounds(fitted.program.features)
    return compare(artifacts.feature_names, expected, actual, bounds), len(
        next(iter(sample.values()))
    )
