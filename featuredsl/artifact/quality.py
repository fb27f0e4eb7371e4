"""Data quality of the training data as the features see it, measured at build time.

A feature that is NaN or infinite on a large share of the training rows, a constant feature, a
one-hot whose rows all fall in one column, an input that is null everywhere: each builds and
serves without an error, and each is almost always a mistake (`log1p(fill_null(dep_delay, 0.0))`
is NaN wherever a delay is below -1). The report is stored in the manifest, shown by
`featuredsl build`, and `--strict` turns its findings into errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from featuredsl.compiler.ir import Program

SHARE_WARN = 0.01  # a NaN or infinite share of features above 1% is a finding


@dataclass(frozen=True)
class DataQuality:
    """Per output column: shares of NaN, +inf and -inf, and whether it is constant; per input:
    the share of nulls; `findings` in words, most serious first."""

    rows: int
    columns: dict[str, dict[str, Any]]
    inputs: dict[str, float]
    findings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The manifest's `data_quality` entry (shares rounded to 6 places, for diffs)."""
        return {
            "rows": self.rows,
            "columns": self.columns,
            "input_null_shares": self.inputs,
            "findings": list(self.findings),
        }


def _share(count: int, rows: int) -> float:
    return round(count / rows, 6) if rows else 0.0


def assess(
    program: Program,
    feed: Mapping[str, np.ndarray],
    features: np.ndarray,
    names: Sequence[str],
) -> DataQuality:
    """Measure the training feed and the features computed from it.

    Args:
        program: the fitted program (for its inputs and one-hot features).
        feed: the canonical training feed (see `featuredsl.ingest`).
        features: the numpy module's output on `feed`, float64 [rows, len(names)].
        names: the output column names.
    """
    tally = QualityTally(program, names)
    tally.add(feed, features)
    return tally.result()


class QualityTally:
    """The data-quality measures accumulated batch by batch (what `assess` reports on all the
    rows at once): counts of NaN, +inf, -inf and finite values per output column, whether the
    finite values all equal the first one, and null counts per input. The result does not
    depend on how the rows are split into batches."""

    def __init__(self, program: Program, names: Sequence[str]) -> None:
        self.program = program
        self.names = list(names)
        width = len(self.names)
        self.rows = 0
        self.nan = np.zeros(width, dtype=np.int64)
        self.posinf = np.zeros(width, dtype=np.int64)
        self.neginf = np.zeros(width, dtype=np.int64)
        self.finite = np.zeros(width, dtype=np.int64)
        self.first = np.full(width, np.nan)  # the first finite value seen per column
        self.same = np.ones(width, dtype=bool)  # every finite value equals `first`
        self.nulls = {column.name: 0 for column in program.inputs}
        # (one-hot feature, nullable input) -> [rows where the input is null, those of them
        # hot in an <oov> column]
        self.null_oov = {pair: [0, 0] for pair in _oov_pairs(program)}
        position = {name: i for i, name in enumerate(self.names)}
        self._oov_positions = {  # the output positions of each pair's <oov> columns
            pair: np.array([position[n] for n in _oov_columns(program, pair[0])], dtype=np.intp)
            for pair in self.null_oov
        }

    def add(self, feed: Mapping[str, np.ndarray], features: np.ndarray) -> None:
        """Count one batch: its feed and the numpy module's output on it [rows, width]."""
        self.rows += int(features.shape[0])
        finite = np.isfinite(features)
        self.nan += np.isnan(features).sum(axis=0)
        self.posinf += np.isposinf(features).sum(axis=0)
        self.neginf += np.isneginf(features).sum(axis=0)
        self.finite += finite.sum(axis=0)
        if features.shape[0]:
            unset = np.isnan(self.first) & finite.any(axis=0)
            firsts = features[np.argmax(finite, axis=0), np.arange(features.shape[1])]
            self.first[unset] = firsts[unset]
            self.same &= np.all(~finite | (features == self.first), axis=0)
        null_of: dict[str, np.ndarray] = {}  # the null mask of each input that can be null
        for column in self.program.inputs:
            if column.mask_name:
                null_of[column.name] = np.asarray(feed[column.mask_name], dtype=bool)
            elif column.dtype.value == "float":
                null_of[column.name] = np.isnan(feed[column.name])
            if column.name in null_of:
                self.nulls[column.name] += int(np.count_nonzero(null_of[column.name]))
        for pair, tally in self.null_oov.items():
            null = null_of[pair[1]]
            hot = (features[np.ix_(null, self._oov_positions[pair])] == 1.0).any(axis=1)
            tally[0] += int(np.count_nonzero(null))
            tally[1] += int(np.count_nonzero(hot))

    def counts(self) -> dict[str, Any]:
        """The tally as plain data (what a worker sends back): see `merge_counts`."""
        return {
            "rows": self.rows,
            "nan": self.nan,
            "posinf": self.posinf,
            "neginf": self.neginf,
            "finite": self.finite,
            "first": self.first,
            "same": self.same,
            "nulls": dict(self.nulls),
            "null_oov": [[f, n, *t] for (f, n), t in self.null_oov.items()],
        }

    def merge_counts(self, other: Mapping[str, Any]) -> None:
        """Add the `counts()` of a tally over other rows (of the same program); the result
        does not depend on the order of merging."""
        self.rows += int(other["rows"])
        for key in ("nan", "posinf", "neginf", "finite"):
            setattr(self, key, getattr(self, key) + other[key])
        mine, theirs = ~np.isnan(self.first), ~np.isnan(other["first"])
        both = mine & theirs
        self.same = self.same & other["same"]
        self.same[both] &= self.first[both] == other["first"][both]
        self.first = np.where(mine, self.first, other["first"])
        for name, count in other["nulls"].items():
            self.nulls[name] += int(count)
        for feature, name, nulls, hot in other["null_oov"]:
            self.null_oov[(feature, name)][0] += int(nulls)
            self.null_oov[(feature, name)][1] += int(hot)

    def result(self) -> DataQuality:
        """The DataQuality of every row counted so far."""
        rows = self.rows
        findings: list[str] = []
        if rows == 0:
            findings.append("the training data has 0 rows: every statistic is undefined")
        columns: dict[str, dict[str, Any]] = {}
        for index, name in enumerate(self.names):
            nan, posinf, neginf = (
                int(self.nan[index]),
                int(self.posinf[index]),
                int(self.neginf[index]),
            )
            constant = rows > 1 and int(self.finite[index]) == rows and bool(self.same[index])
            columns[name] = {
                "nan": _share(nan, rows),
                "posinf": _share(posinf, rows),
                "neginf": _share(neginf, rows),
                "constant": constant,
            }
            for what, count in (("NaN", nan), ("+inf", posinf), ("-inf", neginf)):
                if rows and count / rows > SHARE_WARN:
                    findings.append(
                        f"feature column {name!r} is {what} on {count / rows:.1%} of the "
                        "training rows"
                    )
            if constant and not _in_one_hot(self.program, name):
                findings.append(
                    f"feature column {name!r} is constant ({float(self.first[index])!r} on "
                    "every row)"
                )
        findings += _one_hot_findings(self.program, columns, rows)
        findings += _nulls_in_oov(self.null_oov)
        inputs: dict[str, float] = {}
        for column in self.program.inputs:
            count = self.nulls[column.name]
            inputs[column.name] = _share(count, rows)
            if rows and count == rows:
                findings.append(f"input {column.name!r} is null on every training row")
        return DataQuality(rows, columns, inputs, tuple(findings))


def _in_one_hot(program: Program, column: str) -> bool:
    return any(
        column in (f.column_names or ()) and len(f.column_names or ()) > 1 for f in program.features
    )


def _oov_columns(program: Program, feature: str) -> list[str]:
    (found,) = [f for f in program.features if f.name == feature]
    return [n for n in found.column_names or () if n.startswith(f"{feature}[<oov")]


def _oov_pairs(program: Program) -> list[tuple[str, str]]:
    """(one-hot feature, nullable input it uses) pairs: where a null can land in <oov>."""
    nullable = {c.name for c in program.inputs if c.nullable}
    return [
        (feature.name, name)
        for feature in program.features
        if len(feature.column_names or ()) > 1 and _oov_columns(program, feature.name)
        for name in feature.nullable_inputs_used
        if name in nullable
    ]


def _nulls_in_oov(null_oov: Mapping[tuple[str, str], list[int]]) -> list[str]:
    """One-hots that file every null of an input under `<oov>` with the unseen values.

    `one_hot(fill_null(plan, "none"), vocab(plan))` fits the vocabulary on the non-null values
    only, so the filled nulls are out of vocabulary and the model cannot tell a missing plan
    from a plan it never saw. Measured, not guessed from the spec: the finding is made when
    every training row where the input is null is hot in an `<oov>` column."""
    return [
        f"one-hot feature {feature!r} puts the {nulls} training rows where {name!r} is null "
        "in its <oov> column, together with values it never saw; to give nulls their own "
        f'column, fit the vocabulary on the filled column, e.g. vocab(fill_null({name}, "none"))'
        for (feature, name), (nulls, hot) in null_oov.items()
        if nulls and hot == nulls
    ]


def _one_hot_findings(
    program: Program, columns: Mapping[str, Mapping[str, Any]], rows: int
) -> list[str]:
    out = []
    for feature in program.features:
        names = feature.column_names or ()
        if len(names) > 1 and rows > 1:
            used = [n for n in names if not columns[n]["constant"] or columns[n]["nan"]]
            if len(used) <= 1:
                out.append(
                    f"one-hot feature {feature.name!r} puts every training row in one column"
                    + (f" ({used[0]!r})" if used else "")
                )
    return out
