"""The parity runner: numpy module vs ONNX graph on data plus edge cases, batch vs single row."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifact.conformance.edge_cases import edge_case_feed
from featuredsl.artifact.contract import ONNX_F32_FILE, OUTPUT
from featuredsl.artifact.load import Artifacts, load
from featuredsl.artifact.manifest import decode_pool
from featuredsl.ingest import feed as feed_helpers
from featuredsl.parity.compare import Comparison, compare, ulp_distance
from featuredsl.parity.sessions import CHECKED_OPTIMIZATIONS, onnx_session, run_outputs

SINGLE_ROW_LIMIT = 400


@dataclass(frozen=True)
class WorstCase:
    feature: str
    row: int
    source: str  # "data" or "edge cases"
    inputs: dict[str, Any]
    numpy_value: float
    onnx_value: float
    ulp: float


@dataclass(frozen=True)
class PrecisionRow:
    """float32 serving output against the float64 training module, for one column."""

    feature: str
    discrete: bool
    max_abs: float  # these two: float32 serving against the float64 values (the precision lost)
    max_rel: float
    max_ulp32: float  # float32 serving against the training module's float32 output (0 by design)
    flips: int  # discrete values (bucket, index, flag, one-hot) that differ between those two


@dataclass
class ParityReport:
    directory: str
    rows: dict[str, int]
    comparison: Comparison
    batch_vs_single: Comparison | None
    worst: list[WorstCase] = field(default_factory=list)
    precision: list[PrecisionRow] | None = None
    # numpy vs the graph at each optimization level other than onnxruntime's default ("all",
    # which `comparison` uses): a rewrite must not change a bit.
    optimizations: dict[str, Comparison] = field(default_factory=dict)

    @property
    def flips(self) -> int:
        return sum(r.flips for r in self.precision or [])

    @property
    def ok(self) -> bool:
        single_ok = self.batch_vs_single is None or self.batch_vs_single.ok
        levels_ok = all(c.ok for c in self.optimizations.values())
        return self.comparison.ok and single_ok and levels_ok and self.flips == 0

    def to_dict(self) -> dict[str, Any]:
        def columns(c: Comparison | None) -> list[dict[str, Any]]:
            if c is None:
                return []
            return [
                {
                    "feature": col.name,
                    "ulp_bound": col.bound,
                    "violations": col.violations,
                    "max_ulp": _finite(col.max_ulp),
                }
                for col in c.columns
            ]

        return {
            "directory": self.directory,
            "ok": self.ok,
            "rows": self.rows,
            "numpy_vs_onnx": columns(self.comparison),
            "onnx_batch_vs_single_row": columns(self.batch_vs_single),
            "numpy_vs_onnx_by_optimization": {
                level: columns(c) for level, c in self.optimizations.items()
            },
            "float32_precision": [r.__dict__ for r in self.precision or []],
            "worst_cases": [
                {
                    **w.__dict__,
                    "numpy_value": _finite(w.numpy_value),
                    "onnx_value": _finite(w.onnx_value),
                    "ulp": _finite(w.ulp),
                }
                for w in self.worst
            ],
        }

    def _repr_html_(self) -> str:
        """The verdict per feature column (bound, worst ULP, violations), for notebooks."""
        from featuredsl.artifact.display import notebook_html

        return notebook_html(self.document())

    def document(self) -> Any:
        """The report as a display Document (featuredsl.artifact.display)."""
        from featuredsl.artifact.display import Document, Table, fmt

        rows = tuple(
            (
                col.name,
                "exact" if col.bound == 0 else f"<= {col.bound} ULP",
                fmt(col.max_ulp),
                fmt(col.violations),
            )
            for col in self.comparison.columns
        )
        tables = [
            Table(
                "numpy module vs ONNX graph",
                ("feature", "bound", "max ULP", "violating rows"),
                rows,
                "Exact means the same bits (-0.0 unlike 0.0; any NaN equals any NaN).",
                (False, False, True, True),
            )
        ]
        for title, comparison in (
            ("ONNX batch vs single row", self.batch_vs_single),
            *((f"numpy vs ONNX at optimization {k}", c) for k, c in self.optimizations.items()),
        ):
            if comparison is not None and not comparison.ok:
                bad = tuple(
                    (c.name, fmt(c.max_ulp), fmt(c.violations))
                    for c in comparison.columns
                    if c.violations
                )
                tables.append(Table(title, ("feature", "max ULP", "violating rows"), bad))
        if self.worst:
            tables.append(
                Table(
                    "Worst cases",
                    ("feature", "row", "source", "numpy", "ONNX", "ULP", "inputs"),
                    tuple(
                        (
                            w.feature,
                            fmt(w.row),
                            w.source,
                            repr(w.numpy_value),
                            repr(w.onnx_value),
                            fmt(w.ulp),
                            str(w.inputs),
                        )
                        for w in self.worst
                    ),
                )
            )
        facts = tuple((f"{k} rows", fmt(v)) for k, v in self.rows.items())
        if self.precision is not None:
            facts += (("float32 variant discrete flips", fmt(self.flips)),)
        return Document(
            f"featuredsl parity: {self.directory}",
            facts,
            tuple(tables),
            status="ok" if self.ok else "failed",
        )

    def format(self) -> str:
        lines = [f"parity of {self.directory}: {'OK' if self.ok else 'VIOLATIONS'}"]
        lines.append("rows: " + ", ".join(f"{k} {v}" for k, v in self.rows.items()))
        for col in self.comparison.columns:
            status = "ok" if col.violations == 0 else f"{col.violations} VIOLATIONS"
            bound = "exact" if col.bound == 0 else f"<= {col.bound} ULP"
            lines.append(f"  {col.name}: {bound}, max {col.max_ulp:g} ULP, {status}")
        for level, comparison in self.optimizations.items():
            for col in comparison.columns:
                if col.violations:
                    lines.append(
                        f"  with onnxruntime optimization {level}: {col.name} differs "
                        f"({col.violations} rows)"
                    )
        if self.batch_vs_single is not None and not self.batch_vs_single.ok:
            for col in self.batch_vs_single.columns:
                if col.violations:
                    lines.append(
                        f"  batch vs single row differs: {col.name} ({col.violations} rows)"
                    )
        if self.precision is not None:
            lines.append(f"float32 variant: {self.flips} discrete flips")
            for row in self.precision:
                lines.append(
                    f"  {row.feature}: max abs {row.max_abs:.3g}, max rel {row.max_rel:.3g}, "
                    f"{row.max_ulp32:g} float32 ULP, {row.flips} flips"
                )
        for case in self.worst:
            lines.append(
                f"  worst {case.feature} row {case.row} ({case.source}): numpy {case.numpy_value!r} onnx "
                f"{case.onnx_value!r} ({case.ulp:g} ULP) inputs {case.inputs}"
            )
        return "\n".join(lines)


def _finite(value: float) -> float | str:
    return value if np.isfinite(value) else str(value)


def concat_feeds(feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return feed_helpers.concat_feeds(feeds, ())


def run_parity(
    directory: str | Path,
    data: Any = None,
    single_rows: int = SINGLE_ROW_LIMIT,
    data_feed: dict[str, np.ndarray] | None = None,
    timestamp_unit: str | None = None,
) -> ParityReport:
    """Compare a build's numpy module and ONNX graph, bit for bit (pow within its bound).

    Runs the edge cases derived from the manifest, plus `data` (any table featuredsl reads) or
    a ready canonical `data_feed` (`timestamp_unit`: the unit of bare integers in `data`'s
    timestamp columns, see `Spec.fit`); the graph at onnxruntime's default optimization level and
    with optimizations disabled; and up to `single_rows` rows one at a time. The report's `ok`
    is False on any difference; `format()` renders the worst rows.

    Raises:
        ArtifactError: the directory fails its integrity checks. DataError: bad `data`.
    """
    artifacts = load(directory)
    manifest = artifacts.manifest
    edge = edge_case_feed(
        manifest["inputs"],
        decode_pool(manifest["parity"]["constant_pool"]),
        freshness=manifest.get("freshness"),
        events=manifest.get("events"),
        windows=manifest.get("windows"),
    )
    feeds = [edge]
    rows = {"edge cases": _length(edge)}
    if data is not None:
        data_feed = artifacts.feed(data, source=str(data), timestamp_unit=timestamp_unit)
    if data_feed is not None:
        feeds.insert(0, data_feed)
        rows = {"data": _length(data_feed), **rows}
    feed = concat_feeds(feeds)
    bounds = manifest["parity"]["ulp_bounds"]
    expected = artifacts.transform_feed(feed)
    actual = artifacts.run_onnx(feed)
    comparison = compare(artifacts.feature_names, expected, actual, bounds)
    single = _batch_vs_single(artifacts, feed, actual, bounds, single_rows)
    worst = _worst_cases(artifacts, feed, expected, actual, comparison, rows)
    precision = _float32_precision(artifacts, feed, expected)
    optimizations = {
        level: compare(
            artifacts.feature_names,
            expected,
            run_outputs(onnx_session(artifacts.onnx_path, level), feed, [OUTPUT])[0],
            bounds,
        )
        for level in CHECKED_OPTIMIZATIONS
        if level != "all"  # the default session's level: `comparison` above
    }
    return ParityReport(str(directory), rows, comparison, single, worst, precision, optimizations)


def _ulp32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    def ordered(x: np.ndarray) -> np.ndarray:
        bits = x.astype(np.float32).view(np.int32).astype(np.int64)
        return np.where(bits < 0, -(2**31) - bits, bits)

    distance = np.abs(ordered(a) - ordered(b)).astype(np.float64)
    return np.where(np.isnan(a) & np.isnan(b), 0.0, distance)


def _discrete_columns(manifest: dict[str, Any]) -> list[bool]:
    flags: list[bool] = []
    for feature in manifest["features"]:
        discrete = feature["dtype"] in ("int", "bool") or len(feature["columns"]) > 1
        flags.extend([discrete] * len(feature["columns"]))
    return flags


def _float32_precision(
    artifacts: Artifacts, feed: dict[str, np.ndarray], expected: np.ndarray
) -> list[PrecisionRow] | None:
    """The float32 variant rounds only the output, so decisions are taken in float64 on both sides."""
    path = artifacts.directory / ONNX_F32_FILE
    if not path.exists():
        return None
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    served = session.run([OUTPUT], {k: v for k, v in feed.items() if k in names})[0]
    with np.errstate(over="ignore"):
        trained32 = expected.astype(np.float32)  # what the training module's float32 output gives
    rows = []
    for index, (name, discrete) in enumerate(
        zip(artifacts.feature_names, _discrete_columns(artifacts.manifest), strict=True)
    ):
        a, b = expected[:, index], served[:, index].astype(np.float64)
        finite = np.isfinite(a) & np.isfinite(b)
        diff = np.abs(a[finite] - b[finite])
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(a[finite] != 0, diff / np.abs(a[finite]), 0.0)
        ulp32 = _ulp32(trained32[:, index], served[:, index])
        changed = (trained32[:, index] != served[:, index]) & ~(
            np.isnan(trained32[:, index]) & np.isnan(served[:, index])
        )
        flips = int(np.count_nonzero(changed)) if discrete else 0
        rows.append(
            PrecisionRow(
                name,
                discrete,
                float(diff.max(initial=0.0)),
                float(rel.max(initial=0.0)),
                float(ulp32.max(initial=0)),
                flips,
            )
        )
    return rows


def _length(feed: dict[str, np.ndarray]) -> int:
    return feed_helpers.feed_length(feed)


def _batch_vs_single(
    artifacts: Artifacts,
    feed: dict[str, np.ndarray],
    batch: np.ndarray,
    bounds: list[int],
    limit: int,
) -> Comparison:
    """onnxruntime's vectorised kernels can differ with batch size: run rows one by one too."""
    rows = np.unique(np.linspace(0, _length(feed) - 1, min(limit, _length(feed))).astype(np.int64))
    single = np.vstack([artifacts.run_onnx(feed_helpers.take(feed, slice(i, i + 1))) for i in rows])
    return compare(artifacts.feature_names, batch[rows], single, bounds)


def _worst_cases(
    artifacts: Artifacts,
    feed: dict[str, np.ndarray],
    expected: np.ndarray,
    actual: np.ndarray,
    comparison: Comparison,
    rows: dict[str, int],
) -> list[WorstCase]:
    cases = []
    data_rows = rows.get("data", 0)
    for index, column in enumerate(comparison.columns):
        for row in column.worst_rows[:3]:
            inputs = {k: _plain(v[row]) for k, v in feed.items()}
            distance = float(
                ulp_distance(expected[row : row + 1, index], actual[row : row + 1, index])[0]
            )
            source = "data" if row < data_rows else "edge cases"
            cases.append(
                WorstCase(
                    column.name,
                    int(row),
                    source,
                    inputs,
                    float(expected[row, index]),
                    float(actual[row, index]),
                    distance,
                )
            )
    return cases


def _plain(value: Any) -> Any:
    item = value.item() if hasattr(value, "item") else value
    if isinstance(item, str) and len(item) > 40:
        return item[:37] + "..."
    if isinstance(item, float) and not np.isfinite(item):
        return str(item)
    return item


def write_json(report: ParityReport, path: str | Path) -> None:
    Path(path).write_text(
        json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
