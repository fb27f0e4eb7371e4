"""Replay a serving log: recompute each logged request's features with the training module and
compare them, value by value, with what was served.

Per feature every row is exactly one of: match, mismatch (both present, different), missing
(served null, training has a value), extra (served a value, training gives null). Requests
served by another artifact (fingerprint) are counted apart, not compared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifact.contract import OFFSETS_SUFFIX, OUTPUT
from featuredsl.errors import ArtifactError
from featuredsl.ingest.feed import event_groups
from featuredsl.monitor.columns import NULL_SUFFIX
from featuredsl.monitor.jsonable import exact_float, jsonable
from featuredsl.monitor.serving_log import artifact_feature_names, read_log

# Defaults absorb the few-ULP differences of transcendental kernels (log, exp, sin ...) between
# numpy and onnxruntime; exact=True compares bits instead.
DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 1e-12
DEFAULT_EXAMPLES = 5


@dataclass(frozen=True)
class ReplayExample:
    request_id: str
    row: int  # row within the request
    served: float | str  # exact JSON float ("NaN" / "Infinity" as strings)
    expected: float | str
    inputs: Mapping[str, Any]  # the row's raw inputs; null as None


@dataclass(frozen=True)
class FeatureReplay:
    name: str
    rows: int
    match: int
    mismatch: int
    missing: int
    extra: int
    max_abs_diff: float | None  # over mismatches (both values present); None if there are none
    examples: tuple[ReplayExample, ...] = ()

    @property
    def mismatch_rate(self) -> float:
        return (self.mismatch + self.missing + self.extra) / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class FingerprintMismatch:
    fingerprint: str
    requests: int
    rows: int
    first_time: float
    last_time: float


@dataclass(frozen=True)
class TransformError:
    request_id: str
    rows: int
    message: str


@dataclass(frozen=True)
class ReplayReport:
    log: str
    fingerprint: str
    requests: int  # compared requests (this artifact's)
    rows: int
    features: tuple[FeatureReplay, ...]
    missing_features: tuple[str, ...]  # computed by the training module, absent from the log
    extra_features: tuple[str, ...]  # served, unknown to the training module
    fingerprint_mismatches: tuple[FingerprintMismatch, ...]
    transform_errors: tuple[TransformError, ...]
    threshold: float
    fingerprint_threshold: float
    rtol: float
    atol: float
    exact: bool
    other_rows: int = field(default=0)  # rows served by other artifacts

    @property
    def error_rows(self) -> int:
        return sum(e.rows for e in self.transform_errors)

    @property
    def fingerprint_mismatch_rate(self) -> float:
        total = self.rows + self.error_rows + self.other_rows
        return self.other_rows / total if total else 0.0

    def failures(self) -> list[str]:
        """Why the replay fails its thresholds; empty when it passes."""
        out = []
        for f in self.features:
            if f.mismatch_rate > self.threshold:
                out.append(f"{f.name}: mismatch rate {f.mismatch_rate:.4%} > {self.threshold:.4%}")
        total = self.rows + self.error_rows
        if total and self.error_rows / total > self.threshold:
            out.append(f"training module rejected {self.error_rows} of {total} rows")
        if self.fingerprint_mismatch_rate > self.fingerprint_threshold:
            out.append(
                f"{self.fingerprint_mismatch_rate:.4%} of rows were served by another artifact "
                f"(> {self.fingerprint_threshold:.4%})"
            )
        return out

    @property
    def failed(self) -> bool:
        return bool(self.failures())

    def to_dict(self) -> dict[str, Any]:
        out = dict(jsonable(self))
        for entry, feature in zip(out[OUTPUT], self.features, strict=True):
            entry["mismatch_rate"] = feature.mismatch_rate
        out["failures"] = self.failures()
        out["failed"] = self.failed
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"

    def render_text(self, *, examples: bool = True) -> str:
        lines = [
            f"replay of {self.log} against artifact {self.fingerprint[:12]}: "
            f"{self.requests:,} requests, {self.rows:,} rows compared"
        ]
        header = f"{'feature':<24} {'rows':>9} {'match':>9} {'mismatch':>9} {'missing':>8} {'extra':>7} {'rate':>9}  max |diff|"
        lines += [header, "-" * len(header)]
        for f in sorted(self.features, key=lambda f: (-f.mismatch_rate, f.name)):
            diff = "-" if f.max_abs_diff is None else f"{f.max_abs_diff:.6g}"
            lines.append(
                f"{f.name:<24} {f.rows:>9,} {f.match:>9,} {f.mismatch:>9,} {f.missing:>8,} "
                f"{f.extra:>7,} {f.mismatch_rate:>9.4%}  {diff}"
            )
        if self.missing_features:
            lines.append(f"not served (absent from the log): {', '.join(self.missing_features)}")
        if self.extra_features:
            lines.append(
                f"served but unknown to the training module: {', '.join(self.extra_features)}"
            )
        for fm in self.fingerprint_mismatches:
            lines.append(
                f"served by another artifact {fm.fingerprint[:12]}: {fm.requests:,} requests, "
                f"{fm.rows:,} rows (not compared)"
            )
        for err in self.transform_errors[:5]:
            lines.append(f"training module failed on request {err.request_id}: {err.message}")
        if examples:
            for f in self.features:
                for ex in f.examples:
                    lines.append(
                        f"  {f.name}: request {ex.request_id} row {ex.row}: served {ex.served!r}, "
                        f"training {ex.expected!r}; inputs {json.dumps(ex.inputs, ensure_ascii=False)}"
                    )
        failures = self.failures()
        lines.append("FAIL: " + "; ".join(failures) if failures else "OK: within thresholds")
        return "\n".join(lines)


def _json_value(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return exact_float(float(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.datetime64):
        return str(value)
    return value


def _row_inputs(feed: Mapping[str, np.ndarray], row: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    groups = event_groups(feed)
    events = {member for members in groups.values() for member in members}
    for offsets in groups:  # an event source: the row's number of events
        out[offsets[: -len(OFFSETS_SUFFIX)] + " events"] = int(feed[offsets][row + 1]) - int(
            feed[offsets][row]
        )
    for name, array in feed.items():
        if name in events or name in groups:
            continue
        if name.endswith(NULL_SUFFIX) and name[: -len(NULL_SUFFIX)] in feed:
            continue
        value = array[row]
        if isinstance(value, np.ndarray):
            value = value.reshape(-1)[0] if value.size == 1 else value.tolist()
        mask = feed.get(name + NULL_SUFFIX)
        if mask is not None and bool(np.asarray(mask[row]).reshape(-1)[0]):
            value = None
        out[name] = _json_value(value)
    return out


class _Tally:
    def __init__(self, name: str, max_examples: int) -> None:
        self.name = name
        self.max_examples = max_examples
        self.rows = self.match = self.mismatch = self.missing = self.extra = 0
        self.max_diff: float | None = None
        self.examples: list[ReplayExample] = []

    def add(
        self,
        served: np.ndarray,
        expected: np.ndarray,
        rtol: float,
        atol: float,
        exact: bool,
        request_id: str,
        feed: Mapping[str, np.ndarray],
    ) -> None:
        s_nan, e_nan = np.isnan(served), np.isnan(expected)
        both = ~s_nan & ~e_nan
        if exact:
            same = served.view(np.int64) == expected.view(np.int64)
        else:
            with np.errstate(invalid="ignore", over="ignore"):
                diff = np.abs(served - expected)
                scale = np.maximum(np.abs(served), np.abs(expected))
                same = (served == expected) | (diff <= atol + rtol * scale)
        match = (s_nan & e_nan) | (both & same)
        mismatch = both & ~same
        missing = s_nan & ~e_nan
        extra = ~s_nan & e_nan
        self.rows += len(served)
        self.match += int(match.sum())
        self.mismatch += int(mismatch.sum())
        self.missing += int(missing.sum())
        self.extra += int(extra.sum())
        if mismatch.any():
            with np.errstate(invalid="ignore", over="ignore"):
                worst = float(np.max(np.abs(served[mismatch] - expected[mismatch])))
            worst = float("inf") if np.isnan(worst) else worst  # inf vs -inf
            self.max_diff = worst if self.max_diff is None else max(self.max_diff, worst)
        for row in np.flatnonzero(~match)[: self.max_examples - len(self.examples)]:
            self.examples.append(
                ReplayExample(
                    request_id=request_id,
                    row=int(row),
                    served=exact_float(float(served[row])),
                    expected=exact_float(float(expected[row])),
                    inputs=_row_inputs(feed, int(row)),
                )
            )

    def add_missing(self, rows: int) -> None:
        self.rows += rows
        self.missing += rows

    def result(self) -> FeatureReplay:
        return FeatureReplay(
            self.name, self.rows, self.match, self.mismatch, self.missing, self.extra,
            self.max_diff, tuple(self.examples),
        )  # fmt: skip


def replay(
    transform_feed: Callable[[Mapping[str, np.ndarray]], Any],
    fingerprint: str,
    feature_names: Sequence[str],
    log_path: str | Path,
    *,
    output: str = OUTPUT,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    exact: bool = False,
    threshold: float = 0.0,
    fingerprint_threshold: float = 0.0,
    max_examples: int = DEFAULT_EXAMPLES,
    limit: int | None = None,
) -> ReplayReport:
    """Compare the served `output` of every logged request of `fingerprint` with
    transform_feed(logged feed), a float [N, F] array in the order of feature_names."""
    names = tuple(feature_names)
    served_names_by_fp = artifact_feature_names(log_path)
    tallies = {name: _Tally(name, max_examples) for name in names}
    others: dict[str, list[float]] = {}  # fingerprint -> [requests, rows, first, last]
    errors: list[TransformError] = []
    missing_features: set[str] = set()
    extra_features: set[str] = set()
    requests = rows = 0
    for record in read_log(log_path, limit=limit):
        if record.fingerprint != fingerprint:
            entry = others.setdefault(record.fingerprint, [0, 0, record.time, record.time])
            entry[0] += 1
            entry[1] += record.rows
            entry[2], entry[3] = min(entry[2], record.time), max(entry[3], record.time)
            continue
        if output not in record.outputs:
            raise ArtifactError(
                f"{log_path}: request {record.request_id} has no output '{output}' "
                f"(outputs: {', '.join(record.outputs)})"
            )
        served = np.asarray(record.outputs[output], dtype=np.float64)
        served = served.reshape(len(served), -1) if served.ndim != 2 else served
        served_names = served_names_by_fp.get(record.fingerprint) or None
        if served_names is None:
            if served.shape[1] != len(names):
                raise ArtifactError(
                    f"{log_path}: the log does not record feature names and serves "
                    f"{served.shape[1]} features where the training module has {len(names)}"
                )
            served_names = names
        try:
            expected = np.asarray(transform_feed(record.inputs), dtype=np.float64)
            if expected.shape != (record.rows, len(names)):
                raise ValueError(
                    f"returned shape {expected.shape}, expected {(record.rows, len(names))}"
                )
        except Exception as err:  # the training module rejecting a served request is a finding
            errors.append(
                TransformError(record.request_id, record.rows, f"{type(err).__name__}: {err}")
            )
            continue
        requests += 1
        rows += record.rows
        position = {n: j for j, n in enumerate(served_names)}
        extra_features.update(n for n in served_names if n not in tallies)
        for j, name in enumerate(names):
            if name not in position:
                missing_features.add(name)
                tallies[name].add_missing(record.rows)
                continue
            tallies[name].add(
                served[:, position[name]], expected[:, j], rtol, atol, exact,
                record.request_id, record.inputs,
            )  # fmt: skip
    mismatches = tuple(
        FingerprintMismatch(fp, int(v[0]), int(v[1]), v[2], v[3])
        for fp, v in sorted(others.items())
    )
    return ReplayReport(
        log=str(log_path),
        fingerprint=fingerprint,
        requests=requests,
        rows=rows,
        features=tuple(tallies[n].result() for n in names),
        missing_features=tuple(n for n in names if n in missing_features),
        extra_features=tuple(sorted(extra_features)),
        fingerprint_mismatches=mismatches,
        transform_errors=tuple(errors),
        threshold=threshold,
        fingerprint_threshold=fingerprint_threshold,
        rtol=rtol,
        atol=atol,
        exact=exact,
        other_rows=sum(m.rows for m in mismatches),
    )
