"""One recommendation line per feature: name the likely cause of the skew that was found.

Heuristics, each tied to a classic training-serving skew: a unit change (a constant factor),
a substituted constant (imputation default, clipping, request-local scaling), string
normalisation (case/whitespace), a null-handling change, a stale or shifted window.
"""

from __future__ import annotations

import math

import numpy as np

from featuredsl.monitor.findings import FeatureSkew
from featuredsl.monitor.summary import CategoricalSummary, NumericSummary, Summary

# Factors a unit change produces: powers of ten (cents/dollars, ms/s, g/kg) and time units.
UNIT_FACTORS: dict[float, str] = {
    **{10.0**k: f"{10**k:,}" for k in range(1, 10)},
    60.0: "60 (seconds vs minutes?)",
    3600.0: "3600 (seconds vs hours?)",
    86400.0: "86400 (seconds vs days?)",
    1024.0: "1024 (bytes vs KiB?)",
}
# A value holding at least this much more of the current share than of the reference share, and
# at least POINT_MASS_RATIO times it, is a "point mass": one constant substituted for many rows.
POINT_MASS = 0.05
POINT_MASS_RATIO = 3.0


def recommend(result: FeatureSkew, r: Summary | None, c: Summary | None) -> str:
    if result.status == "missing":
        return (
            "Absent from the current data: the serving path does not produce it. Check that "
            "serving runs the same artifact version (fingerprint) and feature list."
        )
    if result.status == "extra":
        return (
            "Not in the reference, so it cannot be checked: rebuild the reference profile with "
            "the artifact that is serving, or check for a schema/version mismatch."
        )
    if result.status == "type_changed":
        return f"The column's type changed ({result.kind}): the two paths send different types."
    if result.severity == "none":
        if result.status == "insufficient":
            return "Too few values to judge the distribution; collect more current traffic."
        return "No action needed."
    reason = result.reason
    if reason == "imputed":
        return _imputed_advice(result)
    if reason == "null_rate":
        return _null_advice(result)
    if isinstance(r, CategoricalSummary) and isinstance(c, CategoricalSummary):
        return _categorical_advice(result, r, c)
    if isinstance(r, NumericSummary) and isinstance(c, NumericSummary):
        if result.temporal:
            return _temporal_advice(r, c)
        return _numeric_advice(result, r, c)
    return "Investigate how both paths compute this feature."


def _null_advice(result: FeatureSkew) -> str:
    before, after = result.null_rate_reference or 0.0, result.null_rate_current or 0.0
    direction = "rose" if after > before else "fell"
    return (
        f"Null rate {direction} from {before:.1%} to {after:.1%}: check the upstream source and "
        f"joins for this column, and that both paths represent missing values the same way "
        f'(null, not 0 or ""; imputed in both or neither).'
    )


def _imputed_advice(result: FeatureSkew) -> str:
    detail = next(chk.detail for chk in result.checks if chk.name == "imputed")
    first = detail[0].upper() + detail[1:]
    return (
        f"{first}. One path fills missing values with a constant and the other does not: "
        "impute in both paths or neither (a fill_null in the spec makes it one definition), "
        "and keep nulls as nulls at the boundary."
    )


def as_date(micros: float) -> str:
    """An instant (microseconds since the epoch, UTC) as an ISO date and time."""
    if not math.isfinite(micros):
        return str(micros)
    instant = np.datetime64(int(micros), "us")
    text = str(instant.astype("datetime64[s]"))
    return text.replace("T00:00:00", "") + ("Z" if "T" in text and "T00:00:00" not in text else "")


# The share of one side's instants that must lie beyond the other's range for a time split.
TIME_SPLIT_SHARE = 0.95


def _temporal_advice(r: NumericSummary, c: NumericSummary) -> str:
    span_r = f"{as_date(r.min)} .. {as_date(r.max)}"
    span_c = f"{as_date(c.min)} .. {as_date(c.max)}"
    after = c.quantile(1.0 - TIME_SPLIT_SHARE) >= r.max
    before = c.quantile(TIME_SPLIT_SHARE) <= r.min
    if after or before:
        order = "after" if after else "before"
        return (
            f"Instants: reference {span_r}, current {span_c}: the current data comes {order} the "
            "reference (a split by time, e.g. train on the past, serve the future), so an instant "
            "column always drifts; this is not a computation difference. Monitor what the model "
            "sees instead: features derived from it (hour, day of week, durations between "
            "instants)."
        )
    return (
        f"Instants: reference {span_r}, current {span_c}: the time distribution changed (a "
        "different window or sampling); check the time range each path reads."
    )


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _categorical_advice(result: FeatureSkew, r: CategoricalSummary, c: CategoricalSummary) -> str:
    stats = result.categorical
    if stats is None:
        return "Investigate how both paths compute this feature."
    if result.reason == "unseen" or (stats.unseen_share or 0.0) >= POINT_MASS:
        folded = {_fold(k): k for k in r.categories}
        matches = [(k, folded[_fold(k)]) for k in stats.unseen_examples if _fold(k) in folded]
        share = stats.unseen_share or 0.0
        if matches:
            new, old = matches[0]
            return (
                f"{share:.1%} of current values are categories unseen in the reference but equal "
                f"to reference categories after case/whitespace folding (e.g. {new!r} vs {old!r}): "
                f"normalise strings the same way in both paths."
            )
        examples = ", ".join(repr(k) for k in stats.unseen_examples[:3])
        return (
            f"{share:.1%} of current values are categories unseen in the reference (e.g. {examples}): "
            f"check the upstream values and the vocabulary; retrain if they are genuinely new."
        )
    ref = np.asarray(stats.bucket_reference)
    cur = np.asarray(stats.bucket_current)
    j = int(np.argmax(np.abs(cur - ref)))
    return (
        f"Category shares changed (largest: {stats.buckets[j]!r} {ref[j]:.1%} -> {cur[j]:.1%}): "
        f"check the upstream source and whether the current traffic is a different population."
    )


def _numeric_advice(result: FeatureSkew, r: NumericSummary, c: NumericSummary) -> str:
    stats = result.numeric
    if stats is None:
        return "Investigate how both paths compute this feature."
    if result.reason == "mean_shift" or result.group == "scores":
        return (
            f"Model scores moved (mean {stats.mean_reference:.4g} -> {stats.mean_current:.4g}): "
            f"check the features feeding the model first; if they are stable, the population "
            f"changed and the model may need recalibration."
        )
    factor = _unit_factor(r, c)
    if factor is not None:
        return (
            f"Values are about {factor} times the reference (median {stats.median_reference:.4g} "
            f"-> {stats.median_current:.4g}): a unit change (e.g. cents vs dollars); convert "
            f"at the source so both paths use one unit."
        )
    partial = _partial_unit_factor(r, c)
    if partial is not None:
        factor, share = partial
        return (
            f"{share:.1%} of current values are about {factor} times the reference while the "
            f"rest match it: part of the traffic sends another unit (e.g. cents vs dollars); "
            f"find the client or source and convert at the source."
        )
    shifted = _log_unit_shift(r, c)
    if shifted is not None:
        factor, share = shifted
        return (
            f"{share:.1%} of current values are about ln({factor}) above the reference: if "
            f"this feature is a logarithm, that traffic sends a value {factor} times larger (a "
            f"unit change, e.g. cents vs dollars); convert at the source."
        )
    masses = _new_point_masses(r, c)
    if masses:
        lo, hi = c.min, c.max
        at_ends = [v for v, _, _ in masses if v in (lo, hi)]
        listed = "; ".join(
            f"{pc:.1%} of current values equal {v:.6g} (reference {pr:.1%})"
            for v, pc, pr in masses[:2]
        )
        gone = _vanished_point_mass(r, c)
        if at_ends and _two_ends(c):
            cause = (
                "values pile up at the current minimum and maximum, as request-local min/max "
                "scaling does: use the statistics fitted on the training data"
            )
        elif gone is not None:
            cause = (
                f"the reference's {gone[1]:.1%} at {gone[0]:.6g} is gone: a different fill value "
                f"is substituted (e.g. 0 instead of the training median); impute in one place"
            )
        else:
            cause = "a constant is substituted: check imputation defaults, clipping and fallbacks"
        return f"{listed}: {cause}."
    if result.reason == "out_of_range":
        return (
            f"{stats.out_of_range_share:.1%} of current values fall outside the reference range "
            f"[{stats.min_reference:.4g}, {stats.max_reference:.4g}]: check units, clipping and "
            f"upstream changes."
        )
    return (
        f"Distribution shifted (median {stats.median_reference:.4g} -> {stats.median_current:.4g}, "
        f"PSI {stats.psi:.3f}): if the value comes from a store or a time window, check that "
        f"serving reads the same window and that it is fresh (a stale value looks like this); "
        f"otherwise compare how both paths compute it."
    )


def _unit_factor(r: NumericSummary, c: NumericSummary) -> str | None:
    """The unit factor if the current is the reference scaled by one (median and IQR agree)."""
    pairs = [(r.quantile(q), c.quantile(q)) for q in (0.25, 0.5, 0.75)]
    ratios = [b / a for a, b in pairs if a != 0 and b != 0 and (a > 0) == (b > 0)]
    iqr_r, iqr_c = pairs[2][0] - pairs[0][0], pairs[2][1] - pairs[0][1]
    if iqr_r > 0 and iqr_c > 0:
        ratios.append(iqr_c / iqr_r)
    if len(ratios) < 2:
        return None
    logs = [math.log(x) for x in ratios]
    center = float(np.median(logs))
    if max(abs(v - center) for v in logs) > 0.1:
        return None
    return _match_factor(center, 0.05)


def _match_factor(log_ratio: float, tolerance: float) -> str | None:
    for factor, label in UNIT_FACTORS.items():
        if abs(log_ratio - math.log(factor)) < tolerance:
            return label
        if abs(log_ratio + math.log(factor)) < tolerance:
            return f"1/{label}"
    return None


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    cum = np.cumsum(weights)
    return float(values[int(np.searchsorted(cum, cum[-1] / 2))])


def _partial_unit_factor(r: NumericSummary, c: NumericSummary) -> tuple[str, float] | None:
    """A unit factor explaining the current values outside the reference range, when they are
    a minority (say one client sending cents): their median over the reference median."""
    median = r.quantile(0.5)
    if not median > 0 or len(c.values) == 0:
        return None
    total = c.weights.sum()
    for outside in (c.values > r.max, (c.values < r.min) & (c.values > 0)):
        share = float(c.weights[outside].sum() / total)
        if share < 0.01:
            continue
        ratio = _weighted_median(c.values[outside], c.weights[outside]) / median
        # Looser than _unit_factor: the outside part is the upper (or lower) tail of the
        # rescaled values, so its median sits a little beyond the factor.
        label = _match_factor(math.log(ratio), 0.2) if ratio > 0 else None
        if label is not None:
            return label, share
    return None


def _log_unit_shift(r: NumericSummary, c: NumericSummary) -> tuple[str, float] | None:
    """ln(factor) between the values above the reference range and the reference median: the
    signature of a log feature (log1p(income)) computed from a value in another unit."""
    above = c.values > r.max
    share = float(c.weights[above].sum() / c.weights.sum()) if len(c.values) else 0.0
    if share < 0.01:
        return None
    shift = _weighted_median(c.values[above], c.weights[above]) - r.quantile(0.5)
    for factor, label in UNIT_FACTORS.items():
        if abs(shift - math.log(factor)) < 0.2:
            return label, share
    return None


def _share_at(s: NumericSummary, value: float) -> float:
    i = int(np.searchsorted(s.values, value))
    hit = i < len(s.values) and s.values[i] == value
    return float(s.weights[i] / s.weights.sum()) if hit else 0.0


def _new_point_masses(r: NumericSummary, c: NumericSummary) -> list[tuple[float, float, float]]:
    shares = c.weights / c.weights.sum()
    found = []
    for i in np.flatnonzero(shares >= POINT_MASS):
        value = float(c.values[i])
        before = _share_at(r, value)
        if shares[i] - before >= POINT_MASS and shares[i] >= POINT_MASS_RATIO * before:
            found.append((value, float(shares[i]), before))
    return sorted(found, key=lambda t: -t[1])


def _vanished_point_mass(r: NumericSummary, c: NumericSummary) -> tuple[float, float] | None:
    shares = r.weights / r.weights.sum()
    for i in np.argsort(-shares):
        if shares[i] < POINT_MASS:
            break
        value = float(r.values[i])
        after = _share_at(c, value)
        if shares[i] - after >= POINT_MASS and shares[i] >= POINT_MASS_RATIO * after:
            return value, float(shares[i])
    return None


def _two_ends(c: NumericSummary) -> bool:
    shares = c.weights / c.weights.sum()
    return bool(shares[0] >= POINT_MASS / 2 and shares[-1] >= POINT_MASS / 2)
