"""Shadow comparison: run two build directories or bundles (A = current, B = candidate) on the
same rows and report, per output, how their results differ, before B takes traffic.

Rows come from a data file (CSV/Parquet) or from the requests recorded in a serving log. Per
output: the distribution of the per-row absolute difference (max, p50, p99), the share of rows
that differ (|a - b| > atol in any column; NaN equals NaN), for probability-like outputs the
share whose argmax changes, for label outputs the share whose label changes, and the rows that
differ most with their raw inputs. `features` is compared column by column by feature name.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifact.contract import OUTPUT as FEATURES
from featuredsl.artifact.contract import mask_name, masked_column
from featuredsl.compiler.ir import InputColumn
from featuredsl.compiler.types import DType
from featuredsl.errors import DataError
from featuredsl.fit.analyzers import NextPass, Quantile
from featuredsl.ingest import Feed, read_table, to_feed
from featuredsl.ingest.batches import DEFAULT_BATCH_ROWS
from featuredsl.monitor.jsonable import jsonable
from featuredsl.runtime.serving import Session

CHUNK_ROWS = 50_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
DEFAULT_TOP = 5


@dataclass(frozen=True)
class RowDiff:
    row: str  # "row 17" (data file) or "request <id> row 2" (serving log)
    diff: float | None  # per-row max |a - b|; None for labels
    a: Any
    b: Any
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class OutputShadow:
    name: str
    kind: str  # "numeric", "label" or "incomparable"
    rows: int
    differ: int
    max_abs_diff: float | None = None
    p50_abs_diff: float | None = None
    p99_abs_diff: float | None = None
    changed: int | None = None  # argmax (numeric, width > 1) or label changes
    columns: int = 0
    only_in_a: tuple[str, ...] = ()  # feature columns (for `features`)
    only_in_b: tuple[str, ...] = ()
    worst_columns: tuple[tuple[str, float], ...] = ()  # features: the columns differing most
    top: tuple[RowDiff, ...] = ()
    note: str = ""

    @property
    def differ_share(self) -> float:
        return self.differ / self.rows if self.rows else 0.0

    @property
    def changed_share(self) -> float | None:
        return None if self.changed is None or not self.rows else self.changed / self.rows


@dataclass(frozen=True)
class ShadowReport:
    a: str
    b: str
    source: str
    rows: int
    fingerprint_a: str
    fingerprint_b: str
    outputs: tuple[OutputShadow, ...]
    rows_differ: int  # rows where any compared output differs
    only_in_a: tuple[str, ...] = ()
    only_in_b: tuple[str, ...] = ()
    atol: float = 0.0
    fail_above: float | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def differ_share(self) -> float:
        return self.rows_differ / self.rows if self.rows else 0.0

    @property
    def failed(self) -> bool:
        return self.fail_above is not None and self.differ_share > self.fail_above

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = jsonable(self)
        data["differ_share"] = self.differ_share
        data["failed"] = self.failed
        for entry, output in zip(data["outputs"], self.outputs, strict=True):
            entry["differ_share"] = output.differ_share
            entry["changed_share"] = output.changed_share
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def render_text(self) -> str:
        return "\n".join(_render(self))

    def _repr_html_(self) -> str:
        """Per output: rows that differ, |a - b| distribution, label or argmax changes."""
        from featuredsl.artifact.display import Document, Table, fmt, notebook_html, share

        rows = tuple(
            (
                o.name,
                o.kind,
                f"{o.differ:,} ({share(o.differ_share)})",
                fmt(o.max_abs_diff),
                fmt(o.p50_abs_diff),
                fmt(o.p99_abs_diff),
                "-" if o.changed is None else f"{o.changed:,} ({share(o.changed_share)})",
            )
            for o in self.outputs
        )
        table = Table(
            "Outputs",
            ("output", "kind", "rows that differ", "max |d|", "p50 |d|", "p99 |d|", "changed"),
            rows,
            f"A row differs when |a - b| > {self.atol:g} (NaN equals NaN).",
        )
        facts = (
            ("A", f"{self.a} ({self.fingerprint_a[:12]})"),
            ("B", f"{self.b} ({self.fingerprint_b[:12]})"),
            ("rows", f"{self.rows:,} from {self.source}"),
            ("rows where any output differs", f"{self.rows_differ:,} ({share(self.differ_share)})"),
        )
        status = "failed" if self.failed else ("warning" if self.rows_differ else "ok")
        document = Document("featuredsl shadow", facts, (table,), self.notes, status)
        return notebook_html(document)


# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Rows:
    """The rows both sides run on: the data (a table or columns), and a label per row."""

    data: Any
    labels: tuple[str, ...]
    source: str
    timestamp_unit: str | None = None  # logged feeds hold int64 microseconds


def rows_from_data(path: str | Path, inputs: Sequence[InputColumn], limit: int | None) -> Rows:
    table = read_table(path, _unique(inputs))
    if limit is not None:
        table = table.slice(0, limit)
    return Rows(table, tuple(f"row {i}" for i in range(table.num_rows)), str(path))


def rows_from_log(log: str | Path, limit: int | None) -> Rows:
    """Logged requests as one set of columns; nulls of masked columns become None."""
    from featuredsl.monitor.serving_log import read_log

    parts: list[dict[str, np.ndarray]] = []
    labels: list[str] = []
    names: list[str] | None = None
    for record in read_log(log, limit=limit):
        columns = _feed_columns(record.inputs)
        if names is None:
            names = list(columns)
        elif set(columns) != set(names):
            raise DataError(
                f"{log}: request {record.request_id} has columns {sorted(columns)}, earlier "
                f"requests {sorted(names)}; shadow one artifact's log at a time (--limit)"
            )
        parts.append(columns)
        labels.extend(f"request {record.request_id} row {r}" for r in range(record.rows))
    if names is None:
        raise DataError(f"{log}: the serving log has no requests")
    data = {n: np.concatenate([p[n] for p in parts]) for n in names}
    return Rows(data, tuple(labels), str(log), timestamp_unit="us")


def _feed_columns(feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    columns = {}
    for name, values in feed.items():
        if masked_column(name) in feed:
            continue
        mask = feed.get(mask_name(name))
        if mask is not None:
            values = np.asarray(values).astype(object)
            values[np.asarray(mask, dtype=bool)] = None
        columns[name] = np.asarray(values)
    return columns


def _unique(inputs: Sequence[InputColumn]) -> list[InputColumn]:
    seen: dict[str, InputColumn] = {}
    for column in inputs:
        seen.setdefault(column.name, column)
    return list(seen.values())


# ----------------------------------------------------------------------------- running


def _concat(parts: list[Any]) -> Any:
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts)
    merged: list[Any] = []
    for p in parts:
        merged.extend(p)
    return merged


def _as_array(value: Any) -> np.ndarray:
    """Tensors as they are; a ZipMap-style list of {class: probability} as a matrix."""
    if isinstance(value, np.ndarray):
        return value
    if value and isinstance(value[0], Mapping):
        keys = sorted(value[0])
        return np.array([[row[k] for k in keys] for row in value], dtype=np.float64)
    return np.asarray(value)


# ----------------------------------------------------------------------------- comparing


def _row_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row max |a - b| over the columns; NaN == NaN, a lone NaN differs infinitely."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a64 - b64)
    both_nan = np.isnan(a64) & np.isnan(b64)
    same_inf = np.isinf(a64) & (a64 == b64)
    diff = np.where(both_nan | same_inf, 0.0, np.where(np.isnan(diff), np.inf, diff))
    result: np.ndarray = diff.max(axis=1) if diff.shape[1] else np.zeros(len(diff))
    return result


def _is_numeric(a: np.ndarray) -> bool:
    return a.dtype.kind == "f"


def _matrix(a: np.ndarray) -> np.ndarray:
    return a.reshape(len(a), -1) if a.ndim != 2 else a


def compare_output(
    name: str,
    a: Any,
    b: Any,
    context: RowContext,
    columns: tuple[str, ...] = (),
) -> tuple[OutputShadow, np.ndarray]:
    """One output's comparison and the per-row "differs" mask."""
    ma, mb = _matrix(_as_array(a)), _matrix(_as_array(b))
    n = context.rows
    if ma.shape != mb.shape:
        note = f"shapes differ: A {list(ma.shape)}, B {list(mb.shape)}"
        return OutputShadow(name, "incomparable", n, 0, note=note), np.zeros(n, dtype=bool)
    if not (_is_numeric(ma) and _is_numeric(mb)):
        return _compare_labels(name, ma, mb, context)
    diff = _row_diff(ma, mb)
    differs = diff > context.atol
    changed = None
    if ma.shape[1] > 1 and not columns:  # probabilities / scores: does the decision change?
        changed = int(np.sum(np.argmax(ma, axis=1) != np.argmax(mb, axis=1))) if n else 0
    order = np.argsort(-diff, kind="stable")[: context.top]
    top = tuple(
        RowDiff(context.labels[i], float(diff[i]), ma[i], mb[i], context.inputs(i))
        for i in order
        if differs[i]
    )
    result = OutputShadow(
        name,
        "numeric",
        n,
        int(differs.sum()),
        max_abs_diff=float(diff.max()) if n else None,
        p50_abs_diff=float(np.quantile(diff, 0.5)) if n else None,
        p99_abs_diff=float(np.quantile(diff, 0.99)) if n else None,
        changed=changed,
        columns=ma.shape[1],
        worst_columns=_worst_columns(ma, mb, columns),
        top=top,
    )
    return result, differs


def _compare_labels(
    name: str, ma: np.ndarray, mb: np.ndarray, context: RowContext
) -> tuple[OutputShadow, np.ndarray]:
    differs = np.any(ma != mb, axis=1) if ma.shape[1] else np.zeros(len(ma), dtype=bool)
    rows = np.flatnonzero(differs)[: context.top]
    top = tuple(RowDiff(context.labels[i], None, ma[i], mb[i], context.inputs(i)) for i in rows)
    count = int(differs.sum())
    return (
        OutputShadow(
            name, "label", context.rows, count, changed=count, columns=ma.shape[1], top=top
        ),
        differs,
    )


def _worst_columns(
    ma: np.ndarray, mb: np.ndarray, columns: tuple[str, ...], limit: int = 5
) -> tuple[tuple[str, float], ...]:
    if not columns or not len(ma):
        return ()
    per_column = _row_diff(ma.T, mb.T)  # rows of the transpose are the columns
    worst = np.argsort(-per_column, kind="stable")[:limit]
    return tuple((columns[j], float(per_column[j])) for j in worst if per_column[j] > 0)


@dataclass(frozen=True)
class RowContext:
    """The compared rows: their count and labels, A's feed and input schema (to show a
    differing row's raw inputs), the tolerance and how many differing rows to keep."""

    rows: int
    labels: tuple[str, ...]
    feed: Feed
    schema: tuple[InputColumn, ...]
    atol: float
    top: int

    def inputs(self, i: int) -> dict[str, Any]:
        """Row i's raw inputs, null as None (what a person needs to reproduce it)."""
        out: dict[str, Any] = {}
        for c in self.schema:
            value = self.feed[c.name][i]
            null = c.mask_name is not None and bool(self.feed[c.mask_name][i])
            if isinstance(value, float | np.floating) and np.isnan(value):
                null = True
            out[c.name] = None if null else _plain(value, c.dtype)
        return out


def _plain(value: Any, dtype: DType) -> Any:
    """A value as a person would write it in a request: timestamps as ISO-8601 UTC instants."""
    if dtype is DType.TIMESTAMP:
        try:
            instant = _EPOCH + dt.timedelta(microseconds=int(value))
        except OverflowError:  # beyond year 9999: keep the microseconds
            return int(value)
        return instant.isoformat().replace("+00:00", "Z")
    return value.item() if hasattr(value, "item") else value


def _compare_features(
    a: np.ndarray, b: np.ndarray, names_a: Sequence[str], names_b: Sequence[str], ctx: RowContext
) -> tuple[OutputShadow, np.ndarray]:
    common = tuple(n for n in names_a if n in set(names_b))
    ia = [list(names_a).index(n) for n in common]
    ib = [list(names_b).index(n) for n in common]
    result, differs = compare_output(FEATURES, a[:, ia], b[:, ib], ctx, columns=common)
    only_a = tuple(n for n in names_a if n not in set(names_b))
    only_b = tuple(n for n in names_b if n not in set(names_a))
    return _with(result, only_in_a=only_a, only_in_b=only_b), differs


def _with(output: OutputShadow, **changes: Any) -> OutputShadow:
    from dataclasses import replace

    return replace(output, **changes)


# ----------------------------------------------------------------------------- entry point


def shadow(
    a: str | Path,
    b: str | Path,
    *,
    data: str | Path | None = None,
    log: str | Path | None = None,
    outputs: Sequence[str] = (),
    atol: float = 0.0,
    top: int = DEFAULT_TOP,
    limit: int | None = None,
    fail_above: float | None = None,
    timestamp_unit: str | None = None,
    batch_rows: int | None = None,
    null_values: Sequence[str] = (),
    progress: Callable[[str, int, int], None] | None = None,
) -> ShadowReport:
    """Run two builds or bundles, A and B, on the same rows and compare their outputs.

    A data path is streamed: batches of at most `batch_rows` rows (default DEFAULT_BATCH_ROWS)
    are run on both sides and compared one at a time, so memory is bounded by the batch size,
    and the report is the one a comparison of all rows at once gives: counts add up, maxima
    and the worst rows merge, and the p50/p99 of the per-row differences are exact order
    statistics (featuredsl.fit.analyzers' bounded-memory quantiles, which need one more run of
    both sides over the data per bracketing pass when an output has over 2^20 distinct
    differences).

    Args:
        a, b: build directories or bundle files.
        data: raw input rows: a Parquet/CSV/TSV file, or a directory or glob of them; or
        log: a serving log whose logged requests are replayed (exactly one of the two).
        outputs: the outputs to compare (default: every output both share).
        atol: absolute tolerance per value (0: exact).
        top: how many differing rows the report shows.
        limit: at most this many rows.
        fail_above: the share of differing rows above which the report fails.
        timestamp_unit: the unit of bare integers in `data`'s timestamp columns ("s", "ms",
            "us", "ns"); without it they are refused. (A log's times are microseconds.)
        batch_rows: rows per streamed batch of a data path.
        null_values: extra null tokens of CSV/TSV text.
        progress: called after each batch with (what, rows done, rows in all).

    Returns:
        A ShadowReport (per output: rows compared, differing rows, worst differences).

    Raises:
        DataError: both or neither source given, or rows that A or B refuses.
        ArtifactError: A or B cannot be opened.
        ValueError: `batch_rows` below 1.
    """
    if (data is None) == (log is None):
        raise DataError("shadow needs exactly one source of rows: a data file or a serving log")
    rows_per_batch = DEFAULT_BATCH_ROWS if batch_rows is None else batch_rows
    if rows_per_batch < 1:
        raise ValueError(f"batch_rows must be at least 1, got {rows_per_batch}")
    side_a, side_b = Session(a), Session(b)
    if data is not None:
        rows: Rows | _Stream = _data_rows(
            data, _unique(side_a.inputs + side_b.inputs), limit, rows_per_batch, null_values
        )
        unit = timestamp_unit
    else:
        rows = rows_from_log(log, limit)  # type: ignore[arg-type]
        unit = rows.timestamp_unit
    names = [n for n in side_a.output_names if n in side_b.output_names]
    if outputs:
        unknown = [n for n in outputs if n not in names]
        if unknown:
            raise DataError(f"output(s) {unknown} are not in both A and B (common: {names})")
        names = list(outputs)
    run = _ShadowRun(side_a, side_b, rows, unit, rows_per_batch)
    if progress is not None:
        run.count()
    merged: dict[str, OutputShadow] = {}
    quantiles: dict[str, Any] = {}
    done = rows_differ = 0
    for _, feed_a, out_a, out_b, labels in run.batches():
        n = len(labels)
        ctx = RowContext(n, labels, feed_a, side_a.inputs, atol, top)
        part = compare_outputs(
            Side(str(a), side_a.fingerprint, side_a.output_names, side_a.feature_names, out_a),
            Side(str(b), side_b.fingerprint, side_b.output_names, side_b.feature_names, out_b),
            ctx,
            source="",
            outputs=names,
        )
        rows_differ += part.rows_differ
        for result in part.outputs:
            old = merged.get(result.name)
            merged[result.name] = result if old is None else _merge_output(old, result, top)
            diff = _diffs(result.name, out_a, out_b, side_a, side_b)
            if diff is not None and result.kind == "numeric":
                acc = quantiles.get(result.name) or _P50_P99.create_accumulator()
                quantiles[result.name] = _P50_P99.add_input(acc, diff)
        done += n
        if progress is not None:
            progress("shadow", done, max(run.total, done))
    exact = _exact_quantiles(run, quantiles, side_a, side_b)
    results = []
    for name in names:
        result = merged.get(name) or OutputShadow(name, "numeric", 0, 0)
        if name in exact:
            result = replace(result, p50_abs_diff=exact[name][0], p99_abs_diff=exact[name][1])
        elif result.kind == "numeric":
            result = replace(result, p50_abs_diff=None, p99_abs_diff=None, max_abs_diff=None)
        results.append(result)
    return ShadowReport(
        str(a),
        str(b),
        run.source,
        done,
        side_a.fingerprint,
        side_b.fingerprint,
        tuple(results),
        rows_differ,
        tuple(n for n in side_a.output_names if n not in side_b.output_names),
        tuple(n for n in side_b.output_names if n not in side_a.output_names),
        atol,
        fail_above,
        _notes(side_a, side_b),
    )


class _P50P99(Quantile):
    """The median and the 99th percentile of the per-row differences, as np.quantile's
    'linear' method gives them on all rows (exact, bounded memory: featuredsl.fit.analyzers)."""

    def __init__(self) -> None:
        super().__init__(0.5)

    def levels(self) -> list[float]:
        return [0.5, 0.99]

    def finish(self, values: list[float]) -> tuple[float, float]:  # type: ignore[override]
        return values[0], values[1]


_P50_P99 = _P50P99()


@dataclass(frozen=True)
class _Stream:
    """Rows streamed from a path: BatchSource over both sides' inputs, at most `limit` rows."""

    source: Any
    limit: int | None

    @property
    def label(self) -> str:
        return str(self.source.source)


def _data_rows(
    data: Any,
    inputs: Sequence[InputColumn],
    limit: int | None,
    batch_rows: int,
    null_values: Sequence[str],
) -> Rows | _Stream:
    """A path of data files as a stream; anything else `read_table` reads as Rows."""
    from featuredsl.ingest.batches import data_files, open_source

    if isinstance(data, (str, Path)):
        try:
            data_files(data)
        except DataError:
            return rows_from_data(data, inputs, limit)
        return _Stream(
            open_source(data, inputs, batch_rows=batch_rows, null_values=null_values), limit
        )
    return rows_from_data(data, inputs, limit)


class _ShadowRun:
    """Both sides run on the rows, batch by batch: (offset, A's feed, A's outputs, B's
    outputs, row labels). Re-iterable (a quantile's bracketing pass runs it again)."""

    def __init__(
        self, a: Session, b: Session, rows: Rows | _Stream, unit: str | None, batch_rows: int
    ) -> None:
        self.a, self.b, self.rows, self.unit, self.batch_rows = a, b, rows, unit, batch_rows
        self.total = 0 if isinstance(rows, _Stream) else len(rows.labels)

    def count(self) -> None:
        """Set `total` for a progress bar (a CSV/TSV stream: one counting pass)."""
        if isinstance(self.rows, _Stream):
            total = self.rows.source.rows
            self.total = total if self.rows.limit is None else min(total, self.rows.limit)

    def batches(
        self,
    ) -> Iterator[tuple[int, Feed, dict[str, Any], dict[str, Any], tuple[str, ...]]]:
        for offset, table in self._tables():
            n = len(next(iter(table.values()))) if isinstance(table, dict) else table.num_rows
            feeds = [
                to_feed(
                    table,
                    side.inputs,
                    source=self.source,
                    extra="ignore",
                    row_offset=offset,
                    timestamp_unit=self.unit,
                )
                for side in (self.a, self.b)
            ]
            labels = self._labels(offset, n)
            yield offset, feeds[0], self.a.run_feed(feeds[0]), self.b.run_feed(feeds[1]), labels

    @property
    def source(self) -> str:
        return self.rows.label if isinstance(self.rows, _Stream) else self.rows.source

    def _labels(self, offset: int, n: int) -> tuple[str, ...]:
        if isinstance(self.rows, _Stream):
            return tuple(f"row {offset + i}" for i in range(n))
        return self.rows.labels[offset : offset + n]

    def _tables(self) -> Iterator[tuple[int, Any]]:
        if isinstance(self.rows, _Stream):
            left = self.rows.limit
            for offset, table in self.rows.source.tables():
                if left is not None:
                    if left <= 0:
                        return
                    table = table.slice(0, left)
                    left -= table.num_rows
                yield offset, table
            return
        data, n = self.rows.data, len(self.rows.labels)
        step = min(self.batch_rows, CHUNK_ROWS)
        for start in range(0, max(n, 1), step):
            if isinstance(data, Mapping):
                yield start, {k: v[start : start + step] for k, v in data.items()}
            else:
                yield start, data.slice(start, step)


def _diffs(
    name: str, out_a: Mapping[str, Any], out_b: Mapping[str, Any], a: Session, b: Session
) -> np.ndarray | None:
    """The per-row max |a - b| of a numeric output (features: over the common columns)."""
    ma, mb = _matrix(_as_array(out_a[name])), _matrix(_as_array(out_b[name]))
    if name == FEATURES:
        common = [n for n in a.feature_names if n in set(b.feature_names)]
        ma = ma[:, [list(a.feature_names).index(n) for n in common]]
        mb = mb[:, [list(b.feature_names).index(n) for n in common]]
    if ma.shape != mb.shape or not (_is_numeric(ma) and _is_numeric(mb)):
        return None
    return _row_diff(ma, mb)


def _merge_output(old: OutputShadow, new: OutputShadow, top: int) -> OutputShadow:
    """Two consecutive batches' results of one output as the result of both (p50/p99 are set
    afterwards from the exact quantiles)."""
    if old.kind != new.kind:
        raise DataError(
            f"output '{old.name}' changes kind between batches ({old.kind}, {new.kind})"
        )
    rows_ = old.top + new.top  # earlier rows first; each batch's worst first
    if new.kind == "numeric":
        order = sorted(range(len(rows_)), key=lambda i: -(rows_[i].diff or 0.0))
        rows_ = tuple(rows_[i] for i in order)
    columns: dict[str, float] = {}
    for name, value in old.worst_columns + new.worst_columns:
        columns[name] = max(columns.get(name, value), value)
    worst = sorted(columns.items(), key=lambda item: -item[1])  # stable: earlier listed first
    maxima = [m for m in (old.max_abs_diff, new.max_abs_diff) if m is not None]
    changed = None if old.changed is None or new.changed is None else old.changed + new.changed
    return replace(
        old,
        rows=old.rows + new.rows,
        differ=old.differ + new.differ,
        max_abs_diff=max(maxima) if maxima else None,
        changed=changed,
        worst_columns=tuple(worst[:5]),
        top=tuple(rows_[:top]),
    )


def _exact_quantiles(
    run: _ShadowRun, accs: dict[str, Any], a: Session, b: Session
) -> dict[str, tuple[float, float]]:
    """Each numeric output's (p50, p99); a further run over the rows for the outputs whose
    differences need a bracketing pass (over 2^20 distinct values), until all are known."""
    done: dict[str, tuple[float, float]] = {}
    while accs:
        pending: dict[str, Any] = {}
        for name, acc in accs.items():
            if acc.n == 0:
                continue
            value = _P50_P99.extract_output(acc)
            if isinstance(value, NextPass):
                pending[name] = _P50_P99.refined_accumulator(value.plan)
            else:
                done[name] = value
        if pending:
            for _, _, out_a, out_b, _ in run.batches():
                for name in pending:
                    diff = _diffs(name, out_a, out_b, a, b)
                    if diff is not None:
                        pending[name] = _P50_P99.add_input(pending[name], diff)
        accs = pending
    return done


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its name, fingerprint, output and feature names, and every
    output's values on the compared rows (arrays with one row per compared row)."""

    name: str
    fingerprint: str
    output_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    values: Mapping[str, Any]


def compare_outputs(
    side_a: Side,
    side_b: Side,
    ctx: RowContext,
    *,
    source: str,
    outputs: Sequence[str] = (),
    fail_above: float | None = None,
    notes: Sequence[str] = (),
) -> ShadowReport:
    """Compare every output both sides have (or `outputs`) on the rows of `ctx`.

    Raises:
        DataError: an output in `outputs` that A or B lacks.
    """
    names = [n for n in side_a.output_names if n in side_b.output_names]
    if outputs:
        unknown = [n for n in outputs if n not in names]
        if unknown:
            raise DataError(f"output(s) {unknown} are not in both A and B (common: {names})")
        names = list(outputs)
    results, any_differs = [], np.zeros(ctx.rows, dtype=bool)
    for name in names:
        a, b = side_a.values[name], side_b.values[name]
        if name == FEATURES:
            result, differs = _compare_features(
                a, b, side_a.feature_names, side_b.feature_names, ctx
            )
        else:
            result, differs = compare_output(name, a, b, ctx)
        results.append(result)
        any_differs |= differs
    return ShadowReport(
        side_a.name,
        side_b.name,
        source,
        ctx.rows,
        side_a.fingerprint,
        side_b.fingerprint,
        tuple(results),
        int(any_differs.sum()),
        tuple(n for n in side_a.output_names if n not in side_b.output_names),
        tuple(n for n in side_b.output_names if n not in side_a.output_names),
        ctx.atol,
        fail_above,
        tuple(notes),
    )


def _notes(a: Session, b: Session) -> tuple[str, ...]:
    notes = []
    if a.fingerprint == b.fingerprint:
        notes.append("A and B compute the same features (same fingerprint)")
    else:
        notes.append("A and B compute different features (different fingerprints)")
    if {c.name for c in a.inputs} != {c.name for c in b.inputs}:
        only_b = sorted({c.name for c in b.inputs} - {c.name for c in a.inputs})
        only_a = sorted({c.name for c in a.inputs} - {c.name for c in b.inputs})
        notes.append(f"raw inputs differ: only A reads {only_a}, only B reads {only_b}")
    return tuple(notes)


# ----------------------------------------------------------------------------- text


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _render(report: ShadowReport) -> list[str]:
    lines = [
        f"shadow: A = {report.a} ({report.fingerprint_a[:12]})",
        f"        B = {report.b} ({report.fingerprint_b[:12]})",
        f"rows: {report.rows} from {report.source}; differ means |a - b| > {report.atol:g}",
    ]
    lines += [f"note: {n}" for n in report.notes]
    if report.only_in_a or report.only_in_b:
        lines.append(
            f"outputs only in A: {list(report.only_in_a)}; only in B: {list(report.only_in_b)}"
        )
    header = f"{'output':<16} {'differ':>14} {'max|d|':>9} {'p50|d|':>9} {'p99|d|':>9}  changed"
    lines += ["", header, "-" * len(header)]
    for o in report.outputs:
        lines.append(_output_line(o))
    lines.append(
        f"rows where any output differs: {report.rows_differ} ({report.differ_share:.2%})"
        + (
            f"; fail above {report.fail_above:.2%}: {'FAIL' if report.failed else 'ok'}"
            if report.fail_above is not None
            else ""
        )
    )
    for o in report.outputs:
        lines += _output_details(o)
    return lines


def _output_line(o: OutputShadow) -> str:
    if o.kind == "incomparable":
        return f"{o.name:<16} {o.note}"
    share = f"{o.differ} ({o.differ_share:.1%})"
    changed = "-"
    if o.changed is not None:
        what = "labels" if o.kind == "label" else "argmax"
        changed = f"{o.changed} {what} ({o.changed_share or 0.0:.2%})"
    return (
        f"{o.name:<16} {share:>14} {_fmt(o.max_abs_diff):>9} {_fmt(o.p50_abs_diff):>9} "
        f"{_fmt(o.p99_abs_diff):>9}  {changed}"
    )


def _output_details(o: OutputShadow) -> list[str]:
    lines = []
    if o.only_in_a or o.only_in_b:
        lines.append(f"  {o.name}: only in A {list(o.only_in_a)}, only in B {list(o.only_in_b)}")
    if o.worst_columns:
        shown = ", ".join(f"{n} {d:.3g}" for n, d in o.worst_columns)
        lines.append(f"  {o.name}: columns differing most: {shown}")
    if o.top:
        lines.append(f"  {o.name}: rows that differ most:")
    for r in o.top:
        size = "" if r.diff is None else f" |d| {r.diff:.3g}"
        lines.append(f"    {r.row}{size}: A {_short(r.a)}  B {_short(r.b)}")
        lines.append(f"      inputs {json.dumps(jsonable(r.inputs), ensure_ascii=False)}")
    return lines


def _short(value: Any) -> str:
    items = jsonable(value)
    text = json.dumps(items if isinstance(items, list) else [items], ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
