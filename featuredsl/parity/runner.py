"""The parity runner: numpy module vs ONNX graph on data plus edge cases, batch vs single row."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifact.conformance.edge_cases import edge_case_feed
from featuredsl.artifact.contract import ONNX_F32_FILE, OUTPUT
from featuredsl.artifact.load import Artifacts, load
from featuredsl.artifact.manifest import decode_pool
from featuredsl.errors import DataError
from featuredsl.ingest import feed as feed_helpers
from featuredsl.ingest import take, to_feed
from featuredsl.parity.compare import CompareAcc, Comparison, compare, ulp_distance
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


RowsHook = Callable[[str, int, int], None]
PARITY_BATCH_ROWS = 65_536
"""Rows per batch of the parity check when none is given (a `data_feed` is cut into such
batches; a path is streamed in them)."""


def run_parity(
    directory: str | Path,
    data: Any = None,
    single_rows: int = SINGLE_ROW_LIMIT,
    data_feed: Mapping[str, np.ndarray] | None = None,
    timestamp_unit: str | None = None,
    *,
    batch_rows: int | None = None,
    null_values: Sequence[str] = (),
    progress: RowsHook | None = None,
    events: Mapping[str, Any] | None = None,
) -> ParityReport:
    """Compare a build's numpy module and ONNX graph, bit for bit (pow within its bound).

    Runs the edge cases derived from the manifest, plus `data` or a ready canonical
    `data_feed`; the graph at onnxruntime's default optimization level and with optimizations
    disabled; and up to `single_rows` rows (evenly spread) one at a time. The report's `ok` is
    False on any difference; `format()` renders the worst rows.

    `data` may be any table featuredsl reads, or a path (file, directory, glob, partitioned
    Parquet dataset) that is streamed: batches of at most `batch_rows` rows (default
    PARITY_BATCH_ROWS) are compared one at a time, so memory is bounded by the batch, and the
    report is the one a comparison of all rows at once gives (`CompareAcc`). Only when a
    comparison fails is the source read once more, for the inputs of the worst rows.
    `timestamp_unit`: the unit of bare integers in `data`'s timestamp columns (see `Spec.fit`);
    `null_values`: extra null tokens of CSV/TSV text. `progress(what, rows done, rows in all)`
    is called after each batch. For a build with window aggregates, `data` is label rows and
    `events` each event source's table: every batch is turned into requests carrying their
    rows' events (featuredsl.artifact.windows.request_feed), as a serving path sends them.

    Raises:
        ArtifactError: the directory fails its integrity checks. DataError: bad `data`.
        ValueError: `batch_rows` below 1.
    """
    from featuredsl.ingest.batches import data_files

    rows_per_batch = PARITY_BATCH_ROWS if batch_rows is None else batch_rows
    if rows_per_batch < 1:
        raise ValueError(f"batch_rows must be at least 1, got {rows_per_batch}")
    artifacts = load(directory)
    manifest = artifacts.manifest
    edge = edge_case_feed(
        manifest["inputs"],
        decode_pool(manifest["parity"]["constant_pool"]),
        freshness=manifest.get("freshness"),
        events=manifest.get("events"),
        windows=manifest.get("windows"),
    )
    stream: Any = None
    if data is not None and isinstance(data, (str, Path)) and _is_files(data, data_files):
        from featuredsl.ingest.batches import open_source

        stream = open_source(
            data,
            artifacts.program_inputs,
            batch_rows=rows_per_batch,
            null_values=null_values,
            timestamp_unit=timestamp_unit,
        )
    elif data is not None:
        if artifacts.event_sources and events is not None:
            labels = to_feed(data, artifacts.program_inputs, source=str(data))
            data_feed = _requests(artifacts, True, events, timestamp_unit, null_values)(labels)
        else:
            data_feed = artifacts.feed(data, source=str(data), timestamp_unit=timestamp_unit)

    as_requests = _requests(artifacts, data is not None, events, timestamp_unit, null_values)

    def data_batches() -> Iterator[tuple[int, Mapping[str, np.ndarray]]]:
        if stream is not None:
            for offset, batch in stream.batches():
                yield offset, as_requests(batch)
        elif data_feed is not None:
            for start in range(0, _length(data_feed), rows_per_batch):
                yield start, take(data_feed, slice(start, start + rows_per_batch))

    data_rows = (
        stream.rows if stream is not None else (_length(data_feed) if data_feed is not None else 0)
    )
    rows = {"edge cases": _length(edge)}
    if stream is not None or data_feed is not None:
        rows = {"data": data_rows, **rows}
    check = _ParityCheck(artifacts, data_rows + _length(edge), single_rows)
    for offset, batch in data_batches():
        check.add(batch, offset)
        if progress is not None:
            progress("checking parity", check.done, data_rows + _length(edge))
    check.add(edge, data_rows)
    if progress is not None:
        progress("checking parity", check.done, data_rows + _length(edge))
    comparison = check.main.result()
    optimizations = {level: acc.result() for level, acc in check.levels.items()}
    wanted = {row for column in comparison.columns for row in column.worst_rows[:3]}
    inputs = _rows_of(data_batches, edge, data_rows, wanted)
    worst = _worst_cases(artifacts, check.main, comparison, inputs, data_rows)
    single = check.single_comparison()
    precision = check.precision_rows()
    return ParityReport(str(directory), rows, comparison, single, worst, precision, optimizations)


def _requests(
    artifacts: Artifacts,
    with_data: bool,
    events: Mapping[str, Any] | None,
    timestamp_unit: str | None,
    null_values: Sequence[str],
) -> Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]:
    """How a batch of label rows becomes the requests the artifacts take: as it is, or, for a
    build with window aggregates, with each row's events from the event tables."""
    if not artifacts.event_sources or not with_data:
        return lambda batch: batch
    if events is None:
        names = ", ".join(s.name for s in artifacts.event_sources)
        raise DataError(
            f"{artifacts.directory} aggregates events over windows ({names}): give each event "
            "source's table with --events SOURCE=PATH (events= in Python), the data's rows get "
            "their events from it"
        )
    from featuredsl.artifact.windows import convert_events, request_feed
    from featuredsl.compiler.frontend import check_source

    program = check_source(str(artifacts.manifest["canonical_spec"]))
    event_feeds = convert_events(program, events, timestamp_unit, null_values)
    return lambda batch: request_feed(program, batch, event_feeds)


def _is_files(data: str | Path, data_files: Callable[[str | Path], Any]) -> bool:
    from featuredsl.errors import DataError

    try:
        data_files(data)
    except DataError:
        return False
    return True


class _ParityCheck:
    """The parity check's accumulators, fed batch by batch: numpy vs the graph (default
    optimization level, and each other checked level), the evenly spread rows run one at a
    time, and the float32 variant's precision."""

    def __init__(self, artifacts: Artifacts, total: int, single_rows: int) -> None:
        self.artifacts = artifacts
        names, bounds = artifacts.feature_names, artifacts.manifest["parity"]["ulp_bounds"]
        self.bounds = bounds
        self.main = CompareAcc(names, bounds)
        self.sessions = {
            level: onnx_session(artifacts.onnx_path, level)
            for level in CHECKED_OPTIMIZATIONS
            if level != "all"  # the default session's level: `main`
        }
        self.levels = {level: CompareAcc(names, bounds) for level in self.sessions}
        self.single_at = (
            np.unique(np.linspace(0, total - 1, min(single_rows, total)).astype(np.int64))
            if total
            else np.empty(0, dtype=np.int64)
        )
        self.batch_out: list[np.ndarray] = []
        self.single_out: list[np.ndarray] = []
        self.f32 = _f32_session(artifacts)
        self.discrete = _discrete_columns(artifacts.manifest)
        self.precision: list[list[float]] | None = None
        self.done = 0

    def add(self, feed: Mapping[str, np.ndarray], offset: int) -> None:
        n = _length(feed)
        expected = self.artifacts.transform_feed(feed)
        actual = self.artifacts.run_onnx(feed)
        self.main.add(expected, actual, offset)
        for level, session in self.sessions.items():
            self.levels[level].add(expected, run_outputs(session, feed, [OUTPUT])[0], offset)
        lo, hi = np.searchsorted(self.single_at, [offset, offset + n])
        for row in self.single_at[lo:hi]:
            i = int(row) - offset
            self.batch_out.append(actual[i : i + 1])
            self.single_out.append(self.artifacts.run_onnx(take(feed, slice(i, i + 1))))
        if self.f32 is not None:
            self._precision(feed, expected)
        self.done += n

    def _precision(self, feed: Mapping[str, np.ndarray], expected: np.ndarray) -> None:
        part = _float32_stats(self.f32, feed, expected, self.discrete)
        if self.precision is None:
            self.precision = [list(row) for row in part]
            return
        for kept, new in zip(self.precision, part, strict=True):
            kept[0], kept[1], kept[2] = (
                max(kept[0], new[0]),
                max(kept[1], new[1]),
                max(kept[2], new[2]),
            )
            kept[3] += new[3]

    def single_comparison(self) -> Comparison:
        width = len(self.artifacts.feature_names)
        batch = np.vstack(self.batch_out) if self.batch_out else np.empty((0, width))
        single = np.vstack(self.single_out) if self.single_out else np.empty((0, width))
        return compare(self.artifacts.feature_names, batch, single, self.bounds)

    def precision_rows(self) -> list[PrecisionRow] | None:
        if self.f32 is None:
            return None
        stats = self.precision or [[0.0, 0.0, 0.0, 0] for _ in self.discrete]
        return [
            PrecisionRow(name, discrete, float(a), float(r), float(u), int(f))
            for name, discrete, (a, r, u, f) in zip(
                self.artifacts.feature_names, self.discrete, stats, strict=True
            )
        ]


def _rows_of(
    batches: Callable[[], Iterator[tuple[int, Mapping[str, np.ndarray]]]],
    edge: Mapping[str, np.ndarray],
    data_rows: int,
    wanted: set[int],
) -> dict[int, dict[str, Any]]:
    """The inputs of rows `wanted` (numbered over data then edge cases): one more pass over
    the data, only when a data row is wanted."""
    found: dict[int, dict[str, Any]] = {}
    for row in sorted(r for r in wanted if r >= data_rows):
        found[row] = _row_inputs(edge, row - data_rows)
    missing = sorted(r for r in wanted if r < data_rows)
    if missing:
        for offset, feed in batches():
            n = _length(feed)
            for row in missing:
                if offset <= row < offset + n:
                    found[row] = _row_inputs(feed, row - offset)
            if all(r in found for r in missing):
                break
    return found


def _row_inputs(feed: Mapping[str, np.ndarray], row: int) -> dict[str, Any]:
    """One row's inputs for a report: its values, and for an event source its event count."""
    one = take(feed, slice(row, row + 1))
    groups = feed_helpers.event_groups(one)
    events = {member for members in groups.values() for member in members}
    out = {k: _plain(v[0]) for k, v in one.items() if k not in events and k not in groups}
    for offsets in groups:
        out[offsets[: -len(".offsets")] + " events"] = int(one[offsets][1])
    return out


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


def _f32_session(artifacts: Artifacts) -> Any:
    """A session of the build's float32 variant, None when it has none."""
    path = artifacts.directory / ONNX_F32_FILE
    if not path.exists():
        return None
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _float32_stats(
    session: Any, feed: Mapping[str, np.ndarray], expected: np.ndarray, discrete: list[bool]
) -> list[tuple[float, float, float, int]]:
    """Per column of one batch: (max abs, max rel, max float32 ULP, flips) of the float32
    variant's output against the float64 module's. The float32 variant rounds only the output,
    so decisions are taken in float64 on both sides; maxima and flip counts merge over batches."""
    names = {i.name for i in session.get_inputs()}
    served = session.run([OUTPUT], {k: v for k, v in feed.items() if k in names})[0]
    with np.errstate(over="ignore"):
        trained32 = expected.astype(np.float32)  # what the training module's float32 output gives
    rows = []
    for index, is_discrete in enumerate(discrete):
        a, b = expected[:, index], served[:, index].astype(np.float64)
        finite = np.isfinite(a) & np.isfinite(b)
        diff = np.abs(a[finite] - b[finite])
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(a[finite] != 0, diff / np.abs(a[finite]), 0.0)
        ulp32 = _ulp32(trained32[:, index], served[:, index])
        changed = (trained32[:, index] != served[:, index]) & ~(
            np.isnan(trained32[:, index]) & np.isnan(served[:, index])
        )
        flips = int(np.count_nonzero(changed)) if is_discrete else 0
        rows.append(
            (
                float(diff.max(initial=0.0)),
                float(rel.max(initial=0.0)),
                float(ulp32.max(initial=0)),
                flips,
            )
        )
    return rows


def _length(feed: Mapping[str, np.ndarray]) -> int:
    return feed_helpers.feed_length(feed)


def _worst_cases(
    artifacts: Artifacts,
    acc: CompareAcc,
    comparison: Comparison,
    inputs: Mapping[int, dict[str, Any]],
    data_rows: int,
) -> list[WorstCase]:
    cases = []
    for index, column in enumerate(comparison.columns):
        for row in column.worst_rows[:3]:
            expected, actual = acc.cell(index, row)
            distance = float(ulp_distance(np.array([expected]), np.array([actual]))[0])
            source = "data" if row < data_rows else "edge cases"
            cases.append(
                WorstCase(column.name, int(row), source, inputs[row], expected, actual, distance)
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
