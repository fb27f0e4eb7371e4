"""Distribution skew between a reference (training features or a profile) and a current sample.

compare() rates every column present on either side with four independent checks: the
distribution (PSI or KS), the null rate, out-of-range values (numeric) or unseen categories
(categorical), and the schema (missing / extra / type changed). A column's severity is the worst
of its checks; docs/monitoring.md gives each statistic, band and the default-method rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from scipy.stats import ttest_ind_from_stats

from featuredsl.errors import DataError
from featuredsl.monitor import stats
from featuredsl.monitor.columns import (
    CATEGORICAL,
    FEATURES,
    INPUTS,
    NUMERIC,
    SCORES,
    Column,
    Dataset,
    as_dataset,
    null_column,
)
from featuredsl.monitor.findings import (
    CategoricalStats,
    Check,
    FeatureSkew,
    NumericStats,
    Plot,
    SkewConfig,
    SkewReport,
)
from featuredsl.monitor.profile import Profile
from featuredsl.monitor.recommend import recommend
from featuredsl.monitor.severity import (
    D_BANDS,
    H_BANDS,
    KS_BANDS,
    PSI_BANDS,
    RANK,
    Severity,
    gated,
)
from featuredsl.monitor.streaming import Summaries
from featuredsl.monitor.summary import CategoricalSummary, NumericSummary, Summary, summarize

OTHER = "(other)"
GROUP_ORDER = (FEATURES, INPUTS, SCORES)


class _Side:
    """A reference or current side: a Profile or a Dataset, with summaries computed once."""

    def __init__(self, source: Profile | Dataset | Summaries) -> None:
        self.source = source
        self.label = source.source
        self._cache: dict[tuple[str, str], Summary] = {}

    def columns(self, group: str) -> dict[str, str]:
        """name -> kind for the group."""
        columns = self.source.groups.get(group, {})
        return {name: column.kind for name, column in columns.items()}

    def groups(self) -> list[str]:
        return list(self.source.groups)

    def rows(self, group: str) -> int:
        return self.source.rows(group)

    def all_null(self, group: str, name: str) -> bool:
        """Every value of the column is null: it has no type of its own (e.g. Arrow `null`)."""
        summary = self.summary(group, name)
        return summary.rows > 0 and summary.nulls == summary.rows

    def retype(self, group: str, name: str, kind: str) -> None:
        """Take an all-null column as nulls of `kind`, the type the other side has."""
        rows = self.summary(group, name).rows
        column = null_column(name, NUMERIC if kind == NUMERIC else CATEGORICAL, rows)
        self._cache[(group, name)] = summarize(column)

    def summary(self, group: str, name: str) -> Summary:
        key = (group, name)
        if key not in self._cache:
            if isinstance(self.source, (Profile, Summaries)):
                self._cache[key] = self.source.summary(group, name)
            else:
                column = self.source.groups[group][name]
                assert isinstance(column, Column)
                self._cache[key] = summarize(column)
        return self._cache[key]

    def fingerprints(self) -> tuple[str, ...]:
        if isinstance(self.source, Profile):
            return (self.source.fingerprint,) if self.source.fingerprint else ()
        return self.source.fingerprints


def _side(data: Any, label: str) -> _Side:
    if isinstance(data, (Profile, Summaries)):
        return _Side(data)
    return _Side(as_dataset(data, source=label))


def compare(
    reference: Any,
    current: Any,
    *,
    config: SkewConfig | None = None,
    groups: Iterable[str] | None = None,
) -> SkewReport:
    """Skew of every column of `current` against `reference`.

    Each side is a Profile, a Dataset, streamed Summaries (featuredsl.monitor.streaming), or data (DataFrame, Arrow table, dict of arrays) taken
    as the "features" group. Groups are compared only with the same group on the other side;
    columns of the "scores" group also get a mean-shift check (the prediction monitor).
    """
    cfg = config or SkewConfig()
    ref, cur = _side(reference, "reference"), _side(current, "current")
    wanted = list(groups) if groups is not None else [g for g in ref.groups() if g in cur.groups()]
    common = [g for g in sorted(wanted, key=_group_key) if g in ref.groups() and g in cur.groups()]
    if not common:
        raise DataError(
            f"{ref.label} and {cur.label} have no group of columns in common "
            f"(reference: {', '.join(ref.groups()) or 'none'}; current: {', '.join(cur.groups()) or 'none'})"
        )
    results: list[FeatureSkew] = []
    for group in common:
        ref_cols, cur_cols = ref.columns(group), cur.columns(group)
        _refuse_disjoint(group, ref, cur, ref_cols, cur_cols)
        for name in dict.fromkeys([*ref_cols, *cur_cols]):
            results.append(_compare_column(name, group, ref, cur, ref_cols, cur_cols, cfg))
    results.sort(key=lambda f: (-RANK[f.severity], _group_key(f.group), f.name))
    notes = _fingerprint_notes(ref.fingerprints(), cur.fingerprints())
    return SkewReport(ref.label, cur.label, tuple(results), cfg, notes)


def _refuse_disjoint(
    group: str, ref: _Side, cur: _Side, ref_cols: Mapping[str, str], cur_cols: Mapping[str, str]
) -> None:
    """Two sides with no column in common hold different things (most often: raw inputs where
    features are expected). Dozens of "missing"/"extra" schema findings would blame artifact
    versions; say what the file holds and how to compute its features instead."""
    if not ref_cols or not cur_cols or set(ref_cols) & set(cur_cols):
        return
    fix = (
        "compute the features first: `featuredsl skew --build BUILD_DIR ...` computes them from "
        "raw inputs (or featuredsl.load(BUILD_DIR).transform(data, as_frame=True)), or compare "
        "a serving log"
    )
    for side, other, held in ((cur, ref, cur_cols), (ref, cur, ref_cols)):
        names = set(held)
        inputs = set(other.columns(INPUTS)) if INPUTS in other.groups() else set()
        if inputs and names <= inputs:
            raise DataError(
                f"{side.label}: holds the spec's raw inputs ({_few(sorted(names))}), not its "
                f"features ({_few(list(other.columns(group)))}); {fix}"
            )
    raise DataError(
        f"{cur.label} and {ref.label} have no {group} column in common: {cur.label} has "
        f"{_few(list(cur_cols))}, {ref.label} has {_few(list(ref_cols))}. If one of them holds "
        f"the spec's raw inputs rather than its features, {fix}"
    )


def _few(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _group_key(group: str) -> tuple[int, str]:
    return (GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER), group)


def _fingerprint_notes(ref: tuple[str, ...], cur: tuple[str, ...]) -> tuple[str, ...]:
    if not ref or not cur:
        return ()
    other = sorted(set(cur) - set(ref))
    if not other:
        return ()
    return (
        f"the current data was served by artifact(s) {', '.join(f[:12] for f in other)}, "
        f"the reference comes from {', '.join(f[:12] for f in ref)}: features may differ by design",
    )


def _compare_column(
    name: str,
    group: str,
    ref: _Side,
    cur: _Side,
    ref_cols: Mapping[str, str],
    cur_cols: Mapping[str, str],
    cfg: SkewConfig,
) -> FeatureSkew:
    if name not in cur_cols:
        return _schema_result(name, group, ref_cols[name], "missing", ref.rows(group), 0)
    if name not in ref_cols:
        return _schema_result(name, group, cur_cols[name], "extra", 0, cur.rows(group))
    if ref_cols[name] != cur_cols[name]:
        # A column of nulls only has no type to compare: it is nulls of the other side's type.
        if cur.all_null(group, name):
            cur.retype(group, name, ref_cols[name])
        elif ref.all_null(group, name):
            ref.retype(group, name, cur_cols[name])
    r, c = ref.summary(group, name), cur.summary(group, name)
    if isinstance(r, NumericSummary) and isinstance(c, NumericSummary):
        result = _compare_numeric(name, group, r, c, cfg)
    elif isinstance(r, CategoricalSummary) and isinstance(c, CategoricalSummary):
        result = _compare_categorical(name, group, r, c, cfg)
    else:
        return _schema_result(
            name, group, f"{ref_cols[name]} -> {cur_cols[name]}", "type_changed", r.rows, c.rows
        )
    return replace(result, recommendation=recommend(result, r, c))


def _schema_result(
    name: str, group: str, kind: str, status: str, rows_r: int, rows_c: int
) -> FeatureSkew:
    severity: Severity = "moderate" if status == "extra" else "severe"
    detail = {
        "missing": "in the reference but absent from the current data",
        "extra": "in the current data but absent from the reference",
        "type_changed": f"type changed ({kind})",
    }[status]
    result = FeatureSkew(
        name=name,
        group=group,
        kind=kind,
        status=status,
        method="none",
        severity=severity,
        reason="schema",
        recommendation="",
        rows_reference=rows_r,
        rows_current=rows_c,
        null_rate_reference=None,
        null_rate_current=None,
        checks=(Check("schema", None, None, severity, detail),),
    )
    return replace(result, recommendation=recommend(result, None, None))


def _null_check(r: Summary, c: Summary, cfg: SkewConfig) -> Check:
    pr, pc = r.nulls / r.rows, c.nulls / c.rows
    h = stats.cohen_h(pr, pc)
    p = stats.two_proportion_pvalue(r.nulls, r.rows, c.nulls, c.rows)
    detail = f"null rate {pr:.2%} -> {pc:.2%} (Cohen's h {h:.3f}, p={p:.2g})"
    return Check("null_rate", h, p, gated(h, H_BANDS, p, cfg.alpha), detail)


# The imputation signature (docs/monitoring.md, "Imputed nulls"): the null rate moves by at least
# IMPUTED_MIN_CHANGE (absolute share of rows), the other side keeps at most IMPUTED_LEFT of it,
# and one value's share moves the opposite way by IMPUTED_MATCH (a ratio range, wide because
# both shares are estimates on samples) of that change, both significant at the configured alpha.
IMPUTED_MIN_CHANGE = 0.01
IMPUTED_LEFT = 0.5
IMPUTED_MATCH = (0.25, 2.0)
IMPUTED_MAX_NULLS = 0.5  # nulls are a minority on both sides (an all-null batch is an outage)


def _value_counts(s: Summary) -> dict[Any, float]:
    """Rows per value (a numeric value or a category); nulls not included."""
    if isinstance(s, NumericSummary):
        return dict(zip(s.values.tolist(), s.weights.tolist(), strict=True))
    assert isinstance(s, CategoricalSummary)
    return dict(zip(s.categories, s.counts.tolist(), strict=True))


def _show(value: Any) -> str:
    if isinstance(value, float):
        text = repr(value)
        return text if len(text) <= 12 else f"{value:.10g}"
    return repr(value)


def _imputation_check(r: Summary, c: Summary, cfg: SkewConfig) -> Check | None:
    """Nulls replaced by a constant on one side: the null rate falls while one value's share
    rises by about as much (imputed in current), or the reverse (a sentinel such as 0 or ""
    in the reference arrives as null). None when the signature is absent."""
    pr, pc = r.nulls / r.rows, c.nulls / c.rows
    if max(pr, pc) > IMPUTED_MAX_NULLS:  # most rows null: an outage, not a stand-in value
        return None
    imputed_in_current = pr - pc >= IMPUTED_MIN_CHANGE and pc <= IMPUTED_LEFT * pr
    nulled_in_current = pc - pr >= IMPUTED_MIN_CHANGE and pr <= IMPUTED_LEFT * pc
    if not (imputed_in_current or nulled_in_current):
        return None
    if stats.two_proportion_pvalue(r.nulls, r.rows, c.nulls, c.rows) >= cfg.alpha:
        return None
    ref, cur = _value_counts(r), _value_counts(c)
    # The side that gained the constant: current when it imputes, the reference when it had
    # the sentinel that current sends as null.
    gainer, loser = (cur, ref) if imputed_in_current else (ref, cur)
    g_rows, l_rows = (c.rows, r.rows) if imputed_in_current else (r.rows, c.rows)
    if not gainer:
        return None
    value = max(gainer, key=lambda v: gainer[v] / g_rows - loser.get(v, 0.0) / l_rows)
    gain = gainer[value] / g_rows - loser.get(value, 0.0) / l_rows
    change = abs(pr - pc)
    lo, hi = IMPUTED_MATCH
    if not lo * change <= gain <= hi * change:
        return None
    k_g, k_l = round(gainer[value]), round(loser.get(value, 0.0))
    if stats.two_proportion_pvalue(k_g, g_rows, k_l, l_rows) >= cfg.alpha:
        return None
    share_r, share_c = ref.get(value, 0.0) / r.rows, cur.get(value, 0.0) / c.rows
    shown = _show(value)
    if imputed_in_current:
        what = f"nulls look imputed with {shown} in current"
    else:
        what = f"the reference's {shown} looks like a null sentinel that current sends as null"
    detail = (
        f"{what}: null rate {pr:.2%} -> {pc:.2%} while the share of {shown} went "
        f"{share_r:.2%} -> {share_c:.2%}"
    )
    null_severity = gated(stats.cohen_h(pr, pc), H_BANDS, 0.0, cfg.alpha)
    severity: Severity = "severe" if null_severity == "severe" else "moderate"
    return Check("imputed", change, None, severity, detail)


def _share_check(
    name: str, k: int, n: int, p0: float, p: float, cfg: SkewConfig, what: str
) -> Check:
    """A share k/n of current values that should be about p0 if nothing changed; p tests that."""
    share = k / n if n else 0.0
    h = stats.cohen_h(share, min(p0, 1.0)) if share > p0 else 0.0
    detail = f"{share:.2%} of current values {what} (expected about {p0:.2%}; h {h:.3f}, p={p:.2g})"
    return Check(name, h, p, gated(h, H_BANDS, p, cfg.alpha), detail)


def _finish(
    name: str,
    group: str,
    kind: str,
    status: str,
    method: str,
    checks: list[Check],
    r: Summary,
    c: Summary,
    **extra: Any,
) -> FeatureSkew:
    # Ties go to the first check listed: the most specific explanation wins. Imputation explains
    # the null-rate, out-of-range, unseen and distribution changes it causes, so it is the
    # reason whenever it is found, at the severity of the worst check.
    top = max(checks, key=lambda chk: RANK[chk.severity])
    imputed = any(chk.name == "imputed" for chk in checks)
    extra.setdefault(
        "temporal", bool(getattr(r, "temporal", False) or getattr(c, "temporal", False))
    )
    return FeatureSkew(
        name=name,
        group=group,
        kind=kind,
        status=status,
        method=method,
        severity=top.severity,
        reason="imputed" if imputed else top.name if top.severity != "none" else "",
        recommendation="",
        rows_reference=r.rows,
        rows_current=c.rows,
        null_rate_reference=r.nulls / r.rows if r.rows else None,
        null_rate_current=c.nulls / c.rows if c.rows else None,
        checks=tuple(checks),
        **extra,
    )


def _compare_numeric(
    name: str, group: str, r: NumericSummary, c: NumericSummary, cfg: SkewConfig
) -> FeatureSkew:
    if r.rows == 0 or c.rows == 0:
        return _finish(name, group, NUMERIC, "insufficient", "none", [_empty_check(r, c)], r, c)
    imputed = _imputation_check(r, c, cfg)
    checks = [*([imputed] if imputed is not None else []), _null_check(r, c, cfg)]
    nr, nc = r.finite, c.finite
    if min(nr, nc) < cfg.min_rows:
        checks.append(_too_few(nr, nc, cfg))
        return _finish(name, group, NUMERIC, "insufficient", "none", checks, r, c)

    # Values within rounding distance of each other are one value (value_tolerance): merge
    # such runs in the reference, then move current values onto the reference value they are.
    tol = stats.value_tolerance(r.min, r.max)
    r_values, r_weights = stats.merge_close(r.values, r.weights, tol)
    r = replace(r, values=r_values, weights=r_weights)
    c_values, c_weights = stats.snap(c.values, c.weights, r.values, tol)
    c = replace(c, values=c_values, weights=c_weights)
    edges = stats.quantile_edges(r.values, r.weights, cfg.psi_bins)
    rb, cb = (
        stats.bin_counts(r.values, r.weights, edges),
        stats.bin_counts(c.values, c.weights, edges),
    )
    psi = stats.psi(rb, cb, cfg.psi_epsilon)
    cdfs = stats.ecdfs(r.values, r.weights, c.values, c.weights)
    d = stats.ks_statistic(r.values, r.weights, c.values, c.weights, cdfs=cdfs)
    samples = None
    if r.exact and c.exact and max(nr, nc) <= stats.KS_EXACT_MAX_N:
        rs, cs = r.samples(), c.samples()
        samples = (rs, cs) if rs is not None and cs is not None else None
    ks_p = stats.ks_pvalue(d, nr, nc, samples)
    w = stats.wasserstein(r.values, r.weights, c.values, c.weights, cdfs=cdfs)
    w_norm = w / r.std if r.std > 0 else (0.0 if w == 0 else None)

    # Out of the reference range: with no change a new value beats all n reference values with
    # probability 1/(n+1) at each end. Infinities count as outside unless the reference had them;
    # values within value_tolerance() of the range (runtime rounding) count as inside.
    below = round(float(c.weights[c.values < r.min - tol].sum()))
    above = round(float(c.weights[c.values > r.max + tol].sum()))
    below += c.neg_inf if r.neg_inf == 0 else 0
    above += c.pos_inf if r.pos_inf == 0 else 0
    n_range = nc + c.pos_inf + c.neg_inf
    k_out = below + above
    # Exact tail probability at each end, Bonferroni-combined over the two ends.
    end_p = min(
        stats.beyond_extreme_pvalue(below, nr, n_range),
        stats.beyond_extreme_pvalue(above, nr, n_range),
    )
    checks.append(
        _share_check(
            "out_of_range",
            k_out,
            n_range,
            2.0 / (nr + 1),
            min(1.0, 2.0 * end_p),
            cfg,
            "outside the reference range",
        )
    )

    if min(nr, nc) >= cfg.psi_min_rows:
        method, value, bands, label = "psi", psi, PSI_BANDS, f"PSI {psi:.3f}"
    else:
        method, value, bands, label = "ks", d, KS_BANDS, f"KS D {d:.3f}"
    detail = f"{label} (KS p={ks_p:.2g}; {nr} vs {nc} values)"
    checks.append(Check("distribution", value, ks_p, gated(value, bands, ks_p, cfg.alpha), detail))
    if group == SCORES:
        checks.append(_mean_shift_check(r, c, cfg))

    numeric = NumericStats(
        n_reference=nr,
        n_current=nc,
        psi=psi,
        psi_edges=tuple(float(e) for e in edges),
        psi_reference=tuple(float(x) for x in rb / rb.sum()),
        psi_current=tuple(float(x) for x in cb / cb.sum()),
        ks_statistic=d,
        ks_pvalue=ks_p,
        wasserstein=w,
        wasserstein_normalized=w_norm,
        js_distance=stats.js_distance(rb, cb),
        mean_reference=r.mean,
        mean_current=c.mean,
        std_reference=r.std,
        std_current=c.std,
        median_reference=r.quantile(0.5),
        median_current=c.quantile(0.5),
        min_reference=r.min,
        max_reference=r.max,
        out_of_range_share=k_out / n_range if n_range else 0.0,
        inf_current=c.pos_inf + c.neg_inf,
        reference_exact=r.exact,
    )
    order = _check_order(checks)
    return _finish(
        name, group, NUMERIC, "compared", method, order, r, c,
        numeric=numeric, plot=_numeric_plot(r, c, cfg.plot_bins),
    )  # fmt: skip


def _mean_shift_check(r: NumericSummary, c: NumericSummary, cfg: SkewConfig) -> Check:
    """Standardised mean shift (Cohen's d against the reference std), gated by Welch's t-test."""
    if not r.std > 0:
        return Check("mean_shift", None, None, "none", "reference scores are constant")
    shift = (c.mean - r.mean) / r.std
    sd_r = r.std * math.sqrt(r.finite / (r.finite - 1))
    sd_c = c.std * math.sqrt(c.finite / (c.finite - 1))
    p = float(
        ttest_ind_from_stats(r.mean, sd_r, r.finite, c.mean, sd_c, c.finite, equal_var=False).pvalue
    )
    detail = f"mean {r.mean:.6g} -> {c.mean:.6g} ({shift:+.3f} reference std; Welch p={p:.2g})"
    return Check("mean_shift", abs(shift), p, gated(abs(shift), D_BANDS, p, cfg.alpha), detail)


def _check_order(checks: list[Check]) -> list[Check]:
    # Priority for ties: the most specific cause first, the distribution last.
    priority = {
        "imputed": -1,
        "unseen": 0,
        "out_of_range": 1,
        "null_rate": 2,
        "mean_shift": 3,
        "distribution": 4,
    }
    return sorted(checks, key=lambda chk: priority.get(chk.name, 9))


def _empty_check(r: Summary, c: Summary) -> Check:
    side = "reference" if r.rows == 0 else "current"
    return Check("distribution", None, None, "none", f"the {side} has no rows")


def _too_few(nr: int, nc: int, cfg: SkewConfig) -> Check:
    return Check(
        "distribution", None, None, "none",
        f"too few values to compare ({nr} vs {nc}; at least {cfg.min_rows} needed on each side)",
    )  # fmt: skip


# Numeric columns with at most this many distinct values (0/1 flags, buckets, small counts)
# are drawn as one bar per value rather than as a histogram.
DISCRETE_PLOT_MAX = 25


def _discrete_plot(r: NumericSummary, c: NumericSummary) -> Plot | None:
    # Values equal to 12 significant digits share a bar (runtimes may round a few ULP apart).
    def keyed(s: NumericSummary) -> dict[float, float]:
        out: dict[float, float] = {}
        total = float(s.weights.sum())
        for value, weight in zip(s.values.tolist(), s.weights.tolist(), strict=True):
            key = float(f"{value:.12g}")
            out[key] = out.get(key, 0.0) + weight / total
        return out

    if len(r.values) > 4 * DISCRETE_PLOT_MAX or len(c.values) > 4 * DISCRETE_PLOT_MAX:
        return None
    ref, cur = keyed(r), keyed(c)
    keys = sorted(set(ref) | set(cur))
    if len(keys) > DISCRETE_PLOT_MAX:
        return None
    return Plot(
        "bars",
        labels=tuple(f"{k:.6g}" for k in keys),
        reference=tuple(ref.get(k, 0.0) for k in keys),
        current=tuple(cur.get(k, 0.0) for k in keys),
    )


def _numeric_plot(r: NumericSummary, c: NumericSummary, bins: int) -> Plot:
    discrete = _discrete_plot(r, c)
    if discrete is not None:
        return discrete
    lo = min(r.quantile(0.005), c.quantile(0.005))
    hi = max(r.quantile(0.995), c.quantile(0.995))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    log_x = lo > 0 and hi / lo > 100.0
    edges = np.geomspace(lo, hi, bins + 1) if log_x else np.linspace(lo, hi, bins + 1)

    def shares(s: NumericSummary) -> tuple[tuple[float, ...], tuple[float, float]]:
        total = s.weights.sum()
        inside = (s.values >= lo) & (s.values <= hi)
        counts, _ = np.histogram(s.values[inside], bins=edges, weights=s.weights[inside])
        outside = (
            float(s.weights[s.values < lo].sum() / total),
            float(s.weights[s.values > hi].sum() / total),
        )
        return tuple(float(x) for x in counts / total), outside

    ref, ref_out = shares(r)
    cur, cur_out = shares(c)
    return Plot(
        "histogram",
        edges=tuple(float(e) for e in edges),
        reference=ref,
        current=cur,
        log_x=bool(log_x),
        reference_outside=ref_out,
        current_outside=cur_out,
    )


def _compare_categorical(
    name: str, group: str, r: CategoricalSummary, c: CategoricalSummary, cfg: SkewConfig
) -> FeatureSkew:
    kind = "categorical"
    if r.rows == 0 or c.rows == 0:
        return _finish(name, group, kind, "insufficient", "none", [_empty_check(r, c)], r, c)
    imputed = _imputation_check(r, c, cfg)
    checks = [*([imputed] if imputed is not None else []), _null_check(r, c, cfg)]
    nr, nc = r.present, c.present
    if min(nr, nc) < cfg.min_rows:
        checks.append(_too_few(nr, nc, cfg))
        return _finish(name, group, kind, "insufficient", "none", checks, r, c)

    ref_counts = dict(zip(r.categories, r.counts.tolist(), strict=True))
    cur_counts = dict(zip(c.categories, c.counts.tolist(), strict=True))
    labels, rb, cb = _buckets(ref_counts, cur_counts, r, c, cfg)
    psi = stats.psi(rb, cb, cfg.psi_epsilon)
    chi2, chi2_p, dof = stats.chi2_homogeneity(rb, cb)

    # JS and L-inf over every category when both sides are complete; over the reference's
    # tracked categories plus the rest when the reference is a frequent-items sketch.
    if r.complete and c.complete:
        keys = list(dict.fromkeys([*ref_counts, *cur_counts]))
        rv = np.array([ref_counts.get(k, 0.0) for k in keys])
        cv = np.array([cur_counts.get(k, 0.0) for k in keys])
    else:
        keys = list(ref_counts)
        cv_known = np.array([cur_counts.get(k, 0.0) for k in keys])
        rv = np.append(np.array([ref_counts[k] for k in keys]), float(r.other))
        cv = np.append(cv_known, max(0.0, nc - cv_known.sum()))

    unseen_share: float | None = None
    examples: tuple[str, ...] = ()
    if r.complete:
        unseen = {k: v for k, v in cur_counts.items() if k not in ref_counts}
        k_unseen = round(sum(unseen.values()) + (c.other if not c.complete else 0))
        unseen_share = k_unseen / nc
        examples = tuple(sorted(unseen, key=lambda k: (-unseen[k], k))[:5])
        # Good-Turing: the share of reference singletons estimates how often a value new to
        # the reference appears when nothing has changed.
        n1, n2 = r.singletons or 0, r.doubletons or 0
        p = stats.unseen_pvalue(k_unseen, nc, n1, n2, nr)
        checks.append(
            _share_check(
                "unseen", k_unseen, nc, n1 / nr, p, cfg, "are categories unseen in the reference"
            )
        )
    else:
        checks.append(
            Check(
                "unseen",
                None,
                None,
                "none",
                "not checked: the reference profile tracks only frequent categories",
            )
        )

    label = (
        f"PSI {psi:.3f} over {len(labels)} buckets (chi-square p={chi2_p:.2g}; {nr} vs {nc} values)"
    )
    checks.append(
        Check("distribution", psi, chi2_p, gated(psi, PSI_BANDS, chi2_p, cfg.alpha), label)
    )
    categorical = CategoricalStats(
        n_reference=nr,
        n_current=nc,
        psi=psi,
        buckets=tuple(labels),
        bucket_reference=tuple(float(x) for x in rb / rb.sum()),
        bucket_current=tuple(float(x) for x in cb / cb.sum()),
        chi2_statistic=chi2,
        chi2_pvalue=chi2_p,
        chi2_dof=dof,
        linf=stats.linf(rv, cv),
        js_distance=stats.js_distance(rv, cv),
        categories_reference=len(ref_counts),
        categories_current=len(cur_counts),
        unseen_share=unseen_share,
        unseen_examples=examples,
        reference_complete=r.complete,
    )
    plot = Plot(
        "bars",
        labels=tuple(labels),
        reference=categorical.bucket_reference,
        current=categorical.bucket_current,
    )
    order = _check_order(checks)
    return _finish(
        name, group, kind, "compared", "psi", order, r, c, categorical=categorical, plot=plot
    )


def _buckets(
    ref_counts: dict[str, float],
    cur_counts: dict[str, float],
    r: CategoricalSummary,
    c: CategoricalSummary,
    cfg: SkewConfig,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Categories frequent on either side get a bucket; the rest share OTHER (so that no
    chi-square expected count is tiny and one-sided rare values do not dominate the PSI)."""
    nr, nc = r.present, c.present
    share = {k: ref_counts.get(k, 0.0) / nr for k in ref_counts}
    for k, v in cur_counts.items():
        share[k] = max(share.get(k, 0.0), v / nc)
    frequent = [k for k, s in share.items() if s >= cfg.category_min_share]
    frequent.sort(key=lambda k: (-share[k], k))
    keep = frequent[: cfg.max_category_buckets]
    rb = np.array([ref_counts.get(k, 0.0) for k in keep])
    cb = np.array([cur_counts.get(k, 0.0) for k in keep])
    r_rest, c_rest = nr - rb.sum(), nc - cb.sum()
    labels = list(keep)
    if r_rest > 0.5 or c_rest > 0.5:
        labels.append(OTHER)
        rb = np.append(rb, max(r_rest, 0.0))
        cb = np.append(cb, max(c_rest, 0.0))
    return labels, rb, cb


def with_scores(dataset: Any, names: Iterable[str]) -> Any:
    """Move the named feature columns into the "scores" group (prediction monitor): a Dataset
    or streamed Summaries (both keep their columns by group), returned as the same type."""
    names = list(names)
    if not names:
        return dataset
    groups = {g: dict(cols) for g, cols in dataset.groups.items()}
    features = groups.get(FEATURES, {})
    missing = [n for n in names if n not in features]
    if missing:
        raise DataError(f"{dataset.source}: score column '{missing[0]}' not found")
    groups[SCORES] = {n: features.pop(n) for n in names}
    return replace(dataset, groups=groups)


def compare_predictions(
    reference: Any, current: Any, *, config: SkewConfig | None = None
) -> SkewReport:
    """The prediction-distribution monitor: skew of model scores plus their mean shift.

    Each side is an array of scores ([N] or [N, K]), a dict of named score arrays, or a
    Dataset/Profile with a "scores" group."""
    return compare(
        _scores(reference, "reference"), _scores(current, "current"), config=config, groups=[SCORES]
    )


def _scores(data: Any, label: str) -> Any:
    if isinstance(data, (Profile, Dataset, Summaries)):
        return data
    if isinstance(data, Mapping):
        arrays = dict(data)
    else:
        array = np.asarray(data, dtype=np.float64)
        if array.ndim == 1:
            arrays = {"score": array}
        elif array.ndim == 2:
            arrays = {f"score[{j}]": array[:, j] for j in range(array.shape[1])}
        else:
            raise DataError(f"{label} scores have shape {array.shape}; expected [N] or [N, K]")
    return Dataset({SCORES: as_dataset(arrays).groups[FEATURES]}, source=label)
