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
    rows = int(features.shape[0])
    findings: list[str] = []
    if rows == 0:
        findings.append("the training data has 0 rows: every statistic is undefined")
    columns: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(names):
        values = features[:, index]
        nan = int(np.isnan(values).sum())
        posinf = int(np.isposinf(values).sum())
        neginf = int(np.isneginf(values).sum())
        finite = values[np.isfinite(values)]
        constant = rows > 1 and finite.size == rows and bool(np.all(finite == finite[0]))
        columns[name] = {
            "nan": _share(nan, rows),
            "posinf": _share(posinf, rows),
            "neginf": _share(neginf, rows),
            "constant": constant,
        }
        for what, count in (("NaN", nan), ("+inf", posinf), ("-inf", neginf)):
            if rows and count / rows > SHARE_WARN:
                findings.append(
                    f"feature column {name!r} is {what} on {count / rows:.1%} of the training rows"
                )
        if constant and not _in_one_hot(program, name):
            findings.append(
                f"feature column {name!r} is constant ({float(finite[0])!r} on every row)"
            )
    findings += _one_hot_findings(program, columns, rows)
    findings += _nulls_in_oov(program, feed, features, names)
    inputs: dict[str, float] = {}
    for column in program.inputs:
        values = feed[column.name]
        null = feed[column.mask_name] if column.mask_name else None
        count = int(np.isnan(values).sum()) if column.dtype.value == "float" else 0
        if null is not None:
            count = int(np.asarray(null).sum())
        inputs[column.name] = _share(count, rows)
        if rows and count == rows:
            findings.append(f"input {column.name!r} is null on every training row")
    return DataQuality(rows, columns, inputs, tuple(findings))


def _in_one_hot(program: Program, column: str) -> bool:
    return any(
        column in (f.column_names or ()) and len(f.column_names or ()) > 1 for f in program.features
    )


def _nulls_in_oov(
    program: Program,
    feed: Mapping[str, np.ndarray],
    features: np.ndarray,
    names: Sequence[str],
) -> list[str]:
    """One-hots that file every null of an input under `<oov>` with the unseen values.

    `one_hot(fill_null(plan, "none"), vocab(plan))` fits the vocabulary on the non-null values
    only, so the filled nulls are out of vocabulary and the model cannot tell a missing plan
    from a plan it never saw. Measured, not guessed from the spec: the finding is made when
    every training row where the input is null is hot in an `<oov>` column."""
    index = {name: i for i, name in enumerate(names)}
    nullable = {c.name: c for c in program.inputs if c.nullable}
    out = []
    for feature in program.features:
        columns = feature.column_names or ()
        oov = [index[n] for n in columns if n.startswith(f"{feature.name}[<oov")]
        if len(columns) <= 1 or not oov:
            continue
        hot = (features[:, oov] == 1.0).any(axis=1)
        for name in feature.nullable_inputs_used:
            column = nullable[name]
            null = feed[column.mask_name] if column.mask_name else np.isnan(feed[name])
            count = int(np.count_nonzero(null))
            if count and bool(hot[null].all()):
                out.append(
                    f"one-hot feature {feature.name!r} puts the {count} training rows where "
                    f"{name!r} is null in its <oov> column, together with values it never saw; "
                    f"to give nulls their own column, fit the vocabulary on the filled column, "
                    f'e.g. vocab(fill_null({name}, "none"))'
                )
    return out


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
