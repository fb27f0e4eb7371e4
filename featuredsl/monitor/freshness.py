"""Freshness skew: how old were the values the model learned from, and how old are the served ones?

The age of a value is prediction time - as-of time (int64 microseconds; the spec declares both
columns: `time event_ts`, `score: float? as_of score_ts`). Ages come from any data holding the two
columns (a training table, a serving log's raw inputs) and are stored in profiles as the group
"ages", one numeric column per input. For each input the section reports the median, the p95
and the share of values over the input's `max_age`, on both sides, and a severity when they
differ:

- the ratio of the two medians, and of the two p95s (the larger over the smaller, both floored
  at one second so that fresh values do not divide by zero), banded by `AGE_RATIO_BANDS`;
- Cohen's h between the two shares over budget, banded by `H_BANDS` (docs/monitoring.md).

The worst of the three is the input's severity. Equal age distributions give ratios of 1 and
h = 0: never flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from featuredsl.compiler.ir import AsOf, Freshness
from featuredsl.language.durations import human_duration
from featuredsl.monitor.columns import INPUTS, NUMERIC, Column, Dataset
from featuredsl.monitor.profile import Profile
from featuredsl.monitor.severity import H_BANDS, Severity, band, worst
from featuredsl.monitor.streaming import Summaries
from featuredsl.monitor.summary import NumericSummary, summarize

AGES = "ages"
"""The group of age columns (microseconds, one per as-of input) in datasets and profiles."""

AGE_RATIO_BANDS = (1.5, 2.0, 4.0)
"""Ratio of two median (or p95) ages -> minor / moderate / severe: a 1.5x difference is noticeable,
2x is a different regime, 4x or more (24 h against 6 h) means the model learned from values of
another age than it is served. This project's convention, chosen with docs/freshness.md's
incidents in mind."""

MIN_AGE_MICROS = 1_000_000  # ages are floored at one second before taking ratios


def find_column(dataset: Dataset, name: str) -> Column | None:
    """The column `name` of the dataset, raw inputs first (a serving log keeps them there)."""
    groups = [INPUTS, *(g for g in dataset.groups if g != INPUTS)]
    for group in groups:
        column = dataset.groups.get(group, {}).get(name)
        if column is not None:
            return column
    return None


def age_columns(dataset: Dataset, freshness: Freshness) -> dict[str, Column]:
    """Per as-of input found in `dataset` (its value, as-of and prediction-time columns): the age
    of each row's value as a numeric Column of microseconds (float64), null where the value, its
    as-of time or the prediction time is null. Inputs whose columns are absent are skipped."""
    now = find_column(dataset, freshness.time)
    if now is None:
        return {}
    out: dict[str, Column] = {}
    for rule in freshness.inputs:
        as_of, value = find_column(dataset, rule.as_of), find_column(dataset, rule.column)
        if as_of is None or value is None:
            continue
        null = now.null | as_of.null | value.null
        ages = np.where(null, np.nan, now.values - as_of.values)
        out[rule.column] = Column(rule.column, NUMERIC, ages, null)
    return out


def with_ages(dataset: Dataset, freshness: Freshness | None) -> Dataset:
    """The dataset with its "ages" group added (unchanged without freshness or ages)."""
    if freshness is None:
        return dataset
    ages = age_columns(dataset, freshness)
    if not ages:
        return dataset
    return replace(dataset, groups={**dataset.groups, AGES: ages})


@dataclass(frozen=True)
class AgeSummary:
    """The ages of one input on one side: microseconds, None when there are no values."""

    rows: int  # values with an age
    median: float | None
    p95: float | None
    over_budget: float | None  # share of ages > max_age (None without a budget)
    future: int  # ages < 0: values from the future (leakage in training, refused in serving)


def summarize_ages(summary: NumericSummary, max_age: int | None) -> AgeSummary:
    """Median, p95, share over budget and count of negative ages of an age summary."""
    rows = summary.finite
    if rows == 0:
        return AgeSummary(0, None, None, None, 0)
    cumulative = summary.cumulative
    total = float(cumulative[-1])
    over = None
    if max_age is not None:
        within = np.searchsorted(summary.values, float(max_age), side="right")
        over = 1.0 - (float(cumulative[within - 1]) / total if within else 0.0)
    future_index = np.searchsorted(summary.values, 0.0, side="left")
    future = float(cumulative[future_index - 1]) if future_index else 0.0
    share = future / total
    return AgeSummary(
        rows, summary.quantile(0.5), summary.quantile(0.95), over, round(share * rows)
    )


@dataclass(frozen=True)
class FreshnessFinding:
    """One input's ages in training and in serving, and how much they differ."""

    column: str
    as_of: str
    max_age: int | None  # microseconds
    training: AgeSummary
    serving: AgeSummary
    median_ratio: float | None
    p95_ratio: float | None
    over_budget_h: float | None  # Cohen's h between the shares over budget
    severity: Severity
    reason: str


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return None
    low, high = sorted((max(a, MIN_AGE_MICROS), max(b, MIN_AGE_MICROS)))
    return high / low


def _cohen_h(p: float | None, q: float | None) -> float | None:
    if p is None or q is None:
        return None
    return abs(2 * math.asin(math.sqrt(p)) - 2 * math.asin(math.sqrt(q)))


def _summary(side: Dataset | Profile | Summaries, name: str) -> NumericSummary | None:
    if isinstance(side, (Profile, Summaries)):
        if name not in side.groups.get(AGES, {}):
            return None
        summary = side.summary(AGES, name)
        return summary if isinstance(summary, NumericSummary) else None
    column = side.groups.get(AGES, {}).get(name)
    if column is None:
        return None
    summary = summarize(column)
    return summary if isinstance(summary, NumericSummary) else None


def compare_freshness(
    training: Dataset | Profile | Summaries,
    serving: Dataset | Profile | Summaries,
    freshness: Freshness,
) -> tuple[FreshnessFinding, ...]:
    """One finding per as-of input whose ages both sides carry (their "ages" group, see
    `with_ages`), worst first."""
    findings = []
    for rule in freshness.inputs:
        before, after = _summary(training, rule.column), _summary(serving, rule.column)
        if before is None or after is None:
            continue
        findings.append(
            _finding(
                rule, summarize_ages(before, rule.max_age), summarize_ages(after, rule.max_age)
            )
        )
    order = {"none": 3, "minor": 2, "moderate": 1, "severe": 0}
    return tuple(sorted(findings, key=lambda f: (order[f.severity], f.column)))


def _finding(rule: AsOf, training: AgeSummary, serving: AgeSummary) -> FreshnessFinding:
    median_ratio = _ratio(training.median, serving.median)
    p95_ratio = _ratio(training.p95, serving.p95)
    h = _cohen_h(training.over_budget, serving.over_budget)
    severity = worst(
        [band(median_ratio, AGE_RATIO_BANDS), band(p95_ratio, AGE_RATIO_BANDS), band(h, H_BANDS)]
    )
    return FreshnessFinding(
        rule.column,
        rule.as_of,
        rule.max_age,
        training,
        serving,
        median_ratio,
        p95_ratio,
        h,
        severity,
        _reason(rule, training, serving, severity),
    )


def _reason(rule: AsOf, training: AgeSummary, serving: AgeSummary, severity: Severity) -> str:
    if training.median is None or serving.median is None:
        return "no ages on one side"
    text = (
        f"training values were {human_duration(training.median)} old at the median, served "
        f"values {human_duration(serving.median)}"
    )
    if severity == "none":
        return text + ": the same freshness"
    if training.median > serving.median:
        text += ": the model learned from staler data than it is served"
    else:
        text += ": served values are staler than those the model learned from"
    if training.over_budget is not None and serving.over_budget is not None:
        text += (
            f" ({training.over_budget:.0%} of training values and {serving.over_budget:.0%} of "
            f"served values over max_age {human_duration(rule.max_age or 0)})"
        )
    return text
