"""The verified build behind `featuredsl build`: check, fit, write both artifacts, then prove they
agree on a data sample and the edge cases. It sits in `parity` because it runs the parity check."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifact.spec import FittedSpec, load_spec
from featuredsl.errors import FeatureDSLError
from featuredsl.parity.runner import ParityReport, run_parity

SAMPLE_ROWS = 2_000


class ParityError(FeatureDSLError):
    """The two artifacts disagree: the build is not usable."""


@dataclass(frozen=True)
class BuildReport:
    fitted: FittedSpec
    files: dict[str, Path]
    fit_seconds: float
    parity: ParityReport


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
    feed = spec.feed(data, source=str(data) if isinstance(data, (str, Path)) else "training data")
    started = time.perf_counter()
    progress("fitting analyzers")
    fitted = spec.fit_feed(feed)
    fit_seconds = time.perf_counter() - started
    progress("writing artifacts")
    files = fitted.save(out, float32=float32)
    progress("checking parity on a data sample and the edge cases")
    report = run_parity(out, data_feed=take(feed, sample_indices(len(next(iter(feed.values()))))))
    if not report.ok:
        raise ParityError(
            f"build {out}: the numpy module and the ONNX graph disagree:\n{report.format()}"
        )
    return BuildReport(fitted, files, fit_seconds, report)
