"""Two-sample statistics on weighted distinct values and on category counts.

Every numeric function takes a distribution as (sorted distinct values, weights): raw data
(weights = counts) and sketches (weights = the sketch's item weights) go through one code path.
Definitions are those of scipy where scipy has the statistic; docs/monitoring.md states each one.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

# Deciles: the credit-scoring convention for PSI; >= 10 expected rows per bin needs >= 100 rows.
PSI_BINS = 10
# Floor for an empty bin's share, so ln(q/p) stays finite (0.01% of the rows).
PSI_EPSILON = 1e-4
# scipy.stats.ks_2samp's method="auto" switches from exact to asymptotic above this size.
KS_EXACT_MAX_N = 10_000

FloatArray = np.ndarray


def quantile_edges(values: FloatArray, weights: FloatArray, bins: int = PSI_BINS) -> FloatArray:
    """Inner PSI bin edges: the reference's 1/B .. (B-1)/B quantiles, de-duplicated.

    A quantile is the smallest value whose cumulative weight reaches k/B of the total (the
    inverted-CDF definition, which only ever returns observed values). Bins are right-closed,
    (e_{i-1}, e_i], so a repeated value falls into exactly one bin; quantiles that coincide
    (a point mass) collapse into one edge instead of producing empty bins.
    """
    if len(values) == 0:
        return np.empty(0)
    cum = np.cumsum(weights)
    total = cum[-1]
    # k * total / B, multiplied first so that integer totals give exact targets.
    targets = (np.arange(1, bins, dtype=np.float64) * total) / bins
    idx = np.minimum(np.searchsorted(cum, targets, side="left"), len(values) - 1)
    return np.unique(values[idx])


def bin_counts(values: FloatArray, weights: FloatArray, edges: FloatArray) -> FloatArray:
    """Weight per right-closed bin (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    index = np.searchsorted(edges, values, side="left")
    return np.bincount(index, weights=weights, minlength=len(edges) + 1).astype(np.float64)


def psi(reference: FloatArray, current: FloatArray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index sum((q - p) * ln(q / p)) over bins, shares floored at epsilon."""
    p = np.maximum(reference / reference.sum(), epsilon)
    q = np.maximum(current / current.sum(), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def _cdf_at(values: FloatArray, cum: FloatArray, points: FloatArray) -> FloatArray:
    """Right-continuous ECDF (P[X <= x]) of a weighted distribution at points."""
    index = np.searchsorted(values, points, side="right")
    padded = np.concatenate(([0.0], cum))
    return padded[index] / cum[-1]


def ks_statistic(v1: FloatArray, w1: FloatArray, v2: FloatArray, w2: FloatArray) -> float:
    """Two-sample Kolmogorov-Smirnov D = sup |F1 - F2| (as scipy.stats.ks_2samp)."""
    grid = np.union1d(v1, v2)
    diff = _cdf_at(v1, np.cumsum(w1), grid) - _cdf_at(v2, np.cumsum(w2), grid)
    return float(np.max(np.abs(diff)))


def ks_pvalue(
    d: float,
    n1: int,
    n2: int,
    samples: tuple[FloatArray, FloatArray] | None = None,
) -> float:
    """Two-sided p-value of D, as scipy.stats.ks_2samp(method="auto") computes it.

    Exact (scipy) when both sides are small and the raw samples are at hand; otherwise the
    asymptotic Kolmogorov distribution kstwo.sf(D, round(n1 n2 / (n1 + n2))), scipy's "asymp".
    """
    if samples is not None and max(n1, n2) <= KS_EXACT_MAX_N:
        return float(sps.ks_2samp(samples[0], samples[1], method="auto").pvalue)
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(sps.kstwo.sf(d, np.round(en)), 0.0, 1.0))


def wasserstein(v1: FloatArray, w1: FloatArray, v2: FloatArray, w2: FloatArray) -> float:
    """First Wasserstein distance: integral of |F1 - F2| (as scipy.stats.wasserstein_distance)."""
    grid = np.union1d(v1, v2)
    if len(grid) < 2:
        return 0.0
    f1 = _cdf_at(v1, np.cumsum(w1), grid[:-1])
    f2 = _cdf_at(v2, np.cumsum(w2), grid[:-1])
    return float(np.sum(np.abs(f1 - f2) * np.diff(grid)))


def js_distance(p: FloatArray, q: FloatArray) -> float:
    """Jensen-Shannon distance, base 2 (0 = same, 1 = disjoint); scipy's jensenshannon."""
    return float(jensenshannon(p, q, base=2.0))


def linf(p: FloatArray, q: FloatArray) -> float:
    """L-infinity distance between the two share vectors: the largest change of one share."""
    return float(np.max(np.abs(p / p.sum() - q / q.sum())))


def chi2_homogeneity(reference: FloatArray, current: FloatArray) -> tuple[float, float, int]:
    """Pearson chi-square test that two count vectors come from one distribution.

    The 2 x K contingency table of scipy.stats.chi2_contingency without Yates' correction.
    Categories seen on one side only are fine (their expected counts are positive); columns
    empty on both sides are dropped because they carry no information.
    """
    table = np.vstack([reference, current]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0, 0
    result = sps.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue), int(result.dof)


def cohen_h(p1: float, p2: float) -> float:
    """Cohen's effect size for two proportions, |2 asin sqrt(p1) - 2 asin sqrt(p2)|."""
    return abs(2.0 * math.asin(math.sqrt(p1)) - 2.0 * math.asin(math.sqrt(p2)))


def two_proportion_pvalue(k1: int, n1: int, k2: int, n2: int) -> float:
    """P-value that k1/n1 and k2/n2 share one rate (chi-square on the 2 x 2 table)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    _, p, _ = chi2_homogeneity(
        np.array([k1, n1 - k1], dtype=np.float64), np.array([k2, n2 - k2], dtype=np.float64)
    )
    return p


def excess_pvalue(k: int, n: int, p0: float) -> float:
    """P[Binomial(n, p0) >= k]: how surprising k hits in n draws are if the rate is p0."""
    if k <= 0:
        return 1.0
    if p0 <= 0.0:
        return 0.0
    return float(sps.binom.sf(k - 1, n, min(p0, 1.0)))
