"""Statistics agree with scipy where defined the same way; PSI binning is robust to ties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from featuredsl.monitor import stats
from featuredsl.monitor.severity import KS_BANDS, PSI_BANDS, band, gated
from featuredsl.monitor.summary import summarize_numeric


def _weighted(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, counts = np.unique(x, return_counts=True)
    return values, counts.astype(np.float64)


SAMPLES = [
    ("normal-shift", lambda r: (r.normal(0, 1, 3000), r.normal(0.2, 1.1, 2500))),
    (
        "ties",
        lambda r: (r.integers(0, 7, 4000).astype(float), r.integers(0, 8, 3000).astype(float)),
    ),
    ("large-asymptotic", lambda r: (r.lognormal(0, 1, 30_000), r.lognormal(0.05, 1, 20_000))),
    ("tiny", lambda r: (r.normal(0, 1, 7), r.normal(0.5, 1, 5))),
]


@pytest.mark.parametrize(("label", "make"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_ks_matches_scipy(label: str, make) -> None:
    a, b = make(np.random.default_rng(7))
    (va, wa), (vb, wb) = _weighted(a), _weighted(b)
    d = stats.ks_statistic(va, wa, vb, wb)
    p = stats.ks_pvalue(d, len(a), len(b), (np.sort(a), np.sort(b)))
    expected = sps.ks_2samp(a, b)  # method="auto", as documented
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, abs=1e-12, rel=1e-12)


def test_ks_asymptotic_pvalue_matches_scipy_asymp() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 800), rng.normal(0.1, 1, 900)
    (va, wa), (vb, wb) = _weighted(a), _weighted(b)
    d = stats.ks_statistic(va, wa, vb, wb)
    # No raw samples (a sketch reference): the asymptotic distribution, scipy's method="asymp".
    assert stats.ks_pvalue(d, 800, 900) == pytest.approx(
        sps.ks_2samp(a, b, method="asymp").pvalue, abs=1e-12
    )


@pytest.mark.parametrize(("label", "make"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_wasserstein_matches_scipy(label: str, make) -> None:
    a, b = make(np.random.default_rng(11))
    (va, wa), (vb, wb) = _weighted(a), _weighted(b)
    expected = sps.wasserstein_distance(a, b)
    assert stats.wasserstein(va, wa, vb, wb) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_wasserstein_with_weights_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    va, vb = np.sort(rng.normal(size=50)), np.sort(rng.normal(1, 2, size=70))
    wa, wb = rng.integers(1, 9, 50).astype(float), rng.integers(1, 9, 70).astype(float)
    expected = sps.wasserstein_distance(va, vb, wa, wb)
    assert stats.wasserstein(va, wa, vb, wb) == pytest.approx(expected, rel=1e-12)


def test_chi_square_matches_scipy_with_one_sided_categories() -> None:
    ref = np.array([500.0, 300.0, 200.0, 0.0])  # the last category only appears in current
    cur = np.array([400.0, 0.0, 250.0, 90.0])  # the second only in reference
    stat, p, dof = stats.chi2_homogeneity(ref, cur)
    expected = sps.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert stat == pytest.approx(expected.statistic, rel=1e-12)
    assert p == pytest.approx(expected.pvalue, abs=1e-12)
    assert dof == expected.dof == 3
    # The same statistic as a goodness-of-fit test against the pooled expected counts.
    pooled = (ref + cur) / (ref + cur).sum()
    expected_counts = np.concatenate([pooled * ref.sum(), pooled * cur.sum()])
    gof = sps.chisquare(np.concatenate([ref, cur]), expected_counts)
    assert stat == pytest.approx(gof.statistic, rel=1e-12)


def test_chi_square_drops_categories_empty_on_both_sides() -> None:
    stat, p, dof = stats.chi2_homogeneity(np.array([10.0, 0.0, 5.0]), np.array([12.0, 0.0, 3.0]))
    expected = sps.chi2_contingency(np.array([[10.0, 5.0], [12.0, 3.0]]), correction=False)
    assert (stat, dof) == (pytest.approx(expected.statistic, rel=1e-12), 1)
    assert p == pytest.approx(expected.pvalue, abs=1e-12)
    assert stats.chi2_homogeneity(np.array([5.0]), np.array([9.0])) == (0.0, 1.0, 0)


def test_js_distance_and_linf() -> None:
    p = np.array([10.0, 20.0, 30.0, 0.0])
    q = np.array([5.0, 25.0, 20.0, 10.0])
    assert stats.js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)
    assert stats.js_distance(p, p) == 0.0
    assert stats.js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert stats.linf(p, q) == pytest.approx(max(abs(p / 60 - q / 60)), abs=1e-15)


def test_psi_formula_and_epsilon() -> None:
    ref, cur = np.array([50.0, 30.0, 20.0]), np.array([40.0, 40.0, 20.0])
    p, q = ref / 100, cur / 100
    assert stats.psi(ref, cur) == pytest.approx(np.sum((q - p) * np.log(q / p)), rel=1e-14)
    # An empty bin counts as a share of PSI_EPSILON, so the value is finite and large.
    one_sided = stats.psi(np.array([100.0, 0.0]), np.array([50.0, 50.0]))
    eps = stats.PSI_EPSILON
    assert one_sided == pytest.approx(
        (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - eps) * math.log(0.5 / eps), rel=1e-12
    )
    assert stats.psi(ref, ref) == 0.0


def test_quantile_edges_are_deciles_for_distinct_values() -> None:
    values = np.arange(1.0, 101.0)
    edges = stats.quantile_edges(values, np.ones(100))
    # Halfway between the decile value and the next one: the same bins, robust to rounding.
    assert edges.tolist() == [10.5, 20.5, 30.5, 40.5, 50.5, 60.5, 70.5, 80.5, 90.5]
    counts = stats.bin_counts(values, np.ones(100), edges)
    assert counts.tolist() == [10.0] * 10  # right-closed bins: exactly 10 per decile


def test_quantile_edges_collapse_repeated_values_into_one_bin() -> None:
    # 55% zeros then distinct values: the zero point mass is one bin, never split or duplicated.
    x = np.concatenate([np.zeros(550), np.arange(1.0, 451.0)])
    values, weights = _weighted(x)
    edges = stats.quantile_edges(values, weights)
    assert edges[0] == 0.5 and len(edges) == len(np.unique(edges)) == 5
    counts = stats.bin_counts(values, weights, edges)
    assert counts[0] == 550 and counts.sum() == 1000 and np.all(counts > 0)
    # A constant column has one edge; the same constant on the other side has PSI 0.
    const = stats.quantile_edges(np.array([3.0]), np.array([1000.0]))
    assert const.tolist() == [3.0 + stats.value_tolerance(3.0)]
    ref_bins = stats.bin_counts(np.array([3.0]), np.array([1000.0]), const)
    cur_bins = stats.bin_counts(np.array([3.0]), np.array([10.0]), const)
    assert stats.psi(ref_bins, cur_bins) == 0.0


def test_bands_and_gate() -> None:
    assert [band(v, PSI_BANDS) for v in (0.05, 0.1, 0.149, 0.2, 0.25, 3.0)] == [
        "none",
        "minor",
        "minor",
        "moderate",
        "severe",
        "severe",
    ]
    assert gated(0.5, PSI_BANDS, 0.2) == "none"  # not significant: never flagged
    assert gated(0.5, PSI_BANDS, 1e-9) == "severe"
    # KS bands give a normal location shift about the severity PSI gives it.
    rng = np.random.default_rng(0)
    for shift, expected in [(0.2, "none"), (0.35, "minor"), (0.6, "severe")]:
        a, b = rng.normal(0, 1, 200_000), rng.normal(shift, 1, 200_000)
        (va, wa), (vb, wb) = _weighted(a), _weighted(b)
        edges = stats.quantile_edges(va, wa)
        psi = stats.psi(stats.bin_counts(va, wa, edges), stats.bin_counts(vb, wb, edges))
        d = stats.ks_statistic(va, wa, vb, wb)
        assert band(psi, PSI_BANDS) == band(d, KS_BANDS) == expected


def test_summary_counts_nulls_infinities_and_moments() -> None:
    x = np.array([1.0, np.nan, np.inf, -np.inf, 2.0, 2.0, 4.0])
    s = summarize_numeric(x, np.isnan(x))
    assert (s.rows, s.nulls, s.pos_inf, s.neg_inf, s.finite) == (7, 1, 1, 1, 4)
    assert s.values.tolist() == [1.0, 2.0, 4.0] and s.weights.tolist() == [1.0, 2.0, 1.0]
    assert s.mean == pytest.approx(2.25) and s.std == pytest.approx(np.std([1, 2, 2, 4]))
    assert (s.min, s.max, s.quantile(0.5)) == (1.0, 4.0, 2.0)


def test_beyond_extreme_pvalue_is_exact() -> None:
    # C(m, k) / C(n + m, k): the k largest of the pooled sample are all current.
    assert stats.beyond_extreme_pvalue(2, 3, 2) == pytest.approx(1 / 10, rel=1e-12)
    assert stats.beyond_extreme_pvalue(3, 20, 10) == pytest.approx(720 / 24360, rel=1e-12)
    assert stats.beyond_extreme_pvalue(0, 20, 10) == 1.0
    assert stats.beyond_extreme_pvalue(11, 20, 10) == 0.0
    rng = np.random.default_rng(0)
    trials = 20_000
    pooled = rng.random((trials, 30))
    ref_max = pooled[:, :20].max(axis=1)
    above = (pooled[:, 20:] > ref_max[:, None]).sum(axis=1)
    assert np.mean(above >= 3) == pytest.approx(720 / 24360, abs=0.004)


def test_unseen_pvalue_is_calibrated_under_no_change() -> None:
    rng = np.random.default_rng(1)
    categories = np.arange(400)
    weights = 1.0 / (categories + 1.0)
    weights /= weights.sum()
    pvalues = []
    for _ in range(400):
        ref = rng.choice(categories, size=300, p=weights)
        cur = rng.choice(categories, size=300, p=weights)
        counts = np.bincount(ref, minlength=400)
        k = int(np.sum(~np.isin(cur, ref)))
        n1, n2 = int(np.sum(counts == 1)), int(np.sum(counts == 2))
        pvalues.append(stats.unseen_pvalue(k, 300, n1, n2, 300))
    assert np.mean(np.array(pvalues) < 0.01) < 0.03
    assert stats.unseen_pvalue(50, 100, 0, 0, 100) == 0.0  # nothing was ever new: any is news


def test_values_a_few_ulp_apart_stay_in_one_bin() -> None:
    # onnxruntime's sin/log/exp may differ from numpy's by a few ULP; a discrete feature's
    # point masses must not jump bins (or leave the reference range) because of that.
    hours = np.arange(24.0)
    reference = np.sin(2 * np.pi * hours / 24)
    served = reference + 3 * np.spacing(reference) * np.where(hours % 2 == 0, 1.0, -1.0)
    rv, rw = _weighted(np.repeat(reference, 100))
    cv, cw = _weighted(np.repeat(served, 40))
    edges = stats.quantile_edges(rv, rw)
    ref_bins, cur_bins = stats.bin_counts(rv, rw, edges), stats.bin_counts(cv, cw, edges)
    assert np.array_equal(ref_bins / ref_bins.sum(), cur_bins / cur_bins.sum())
    assert stats.psi(ref_bins, cur_bins) == 0.0


def test_merge_close_and_snap() -> None:
    tol = stats.value_tolerance(1.0)
    values = np.array([0.5 - 2e-16, 0.5 + 1e-16, 0.7, 1.0])
    merged, weights = stats.merge_close(values, np.array([1.0, 2.0, 3.0, 4.0]), tol)
    assert merged.tolist() == [0.5 - 2e-16, 0.7, 1.0] and weights.tolist() == [3.0, 3.0, 4.0]
    current = np.array([0.5, 0.7 + 1e-16, 0.8, 1.0 + 3e-16])
    snapped, w = stats.snap(current, np.ones(4), merged, tol)
    assert snapped.tolist() == [0.5 - 2e-16, 0.7, 0.8, 1.0] and w.tolist() == [1.0] * 4
