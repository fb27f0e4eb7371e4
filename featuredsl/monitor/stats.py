"""Two-sample statistics on weighted distinct values and on category counts.

Every numeric function takes a distribution as (sorted distinct values, weights): raw data
(weights = counts) and sketches (weights = the sketch's item weights) go through one code path.
Definitions are those of scipy where scipy has the statistic; docs/monitoring.md states each one.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon
from scipy.special import gammaln

# Deciles: the credit-scoring convention for PSI; >= 10 expected rows per bin needs >= 100 rows.
PSI_BINS = 10
# Floor for an empty bin's share, so ln(q/p) stays finite (0.01% of the rows).
PSI_EPSILON = 1e-4
# Values closer than this (relative to their scale) are one value: see value_tolerance().
RELATIVE_TOLERANCE = 1e-9
# scipy.stats.ks_2samp's method="auto" switches from exact to asymptotic above this size.
KS_EXACT_MAX_N = 10_000

FloatArray = np.ndarray


def value_tolerance(*values: float) -> float:
    """How far apart two values may be and still count as one: 1e-9 of their scale.

    Far above the few-ULP differences between numpy and onnxruntime kernels (log, exp, sin),
    far below any real change, so runtime noise never moves a value across a bin edge or out
    of the reference range.
    """
    scale = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    return RELATIVE_TOLERANCE * scale + np.finfo(np.float64).tiny


def merge_close(
    values: FloatArray, weights: FloatArray, tol: float
) -> tuple[FloatArray, FloatArray]:
    """Merge runs of sorted values whose consecutive gaps are <= tol into their first value
    (sin(pi/6) and sin(5 pi/6) are one value that rounds two ways)."""
    if len(values) < 2:
        return values, weights
    starts = np.concatenate(([True], np.diff(values) > tol))
    if starts.all():
        return values, weights
    group = np.cumsum(starts) - 1
    return values[starts], np.bincount(group, weights=weights, minlength=int(starts.sum()))


def snap(
    values: FloatArray, weights: FloatArray, reference: FloatArray, tol: float
) -> tuple[FloatArray, FloatArray]:
    """Replace each value lying within tol of a reference value by that reference value (and
    merge the duplicates): a few-ULP rounding difference between runtimes is not drift."""
    if len(reference) == 0 or len(values) == 0:
        return values, weights
    index = np.searchsorted(reference, values)
    below = reference[np.clip(index - 1, 0, len(reference) - 1)]
    above = reference[np.clip(index, 0, len(reference) - 1)]
    snapped = np.where(
        np.abs(above - values) <= tol,
        above,
        np.where(np.abs(values - below) <= tol, below, values),
    )
    if np.array_equal(snapped, values):
        return values, weights
    distinct, inverse = np.unique(snapped, return_inverse=True)
    return distinct, np.bincount(inverse, weights=weights, minlength=len(distinct))


def quantile_edges(values: FloatArray, weights: FloatArray, bins: int = PSI_BINS) -> FloatArray:
    """Inner PSI bin edges from the reference's 1/B .. (B-1)/B quantiles.

    A quantile is the smallest value whose cumulative weight reaches k/B of the total (the
    inverted-CDF definition, which only ever returns observed values). Each edge sits halfway
    between its quantile value and the next reference value more than value_tolerance() above
    it, and bins are right-closed: a repeated value falls into exactly one bin, a value a few
    ULP away from it (another runtime's rounding) falls into the same one, and quantiles that
    coincide (a point mass) collapse into one edge instead of producing empty bins.
    """
    if len(values) == 0:
        return np.empty(0)
    cum = np.cumsum(weights)
    total = cum[-1]
    # k * total / B, multiplied first so that integer totals give exact targets.
    targets = (np.arange(1, bins, dtype=np.float64) * total) / bins
    idx = np.minimum(np.searchsorted(cum, targets, side="left"), len(values) - 1)
    tol = value_tolerance(float(values[0]), float(values[-1]))
    # Values within tol of the quantile are one value (a point mass rounded differently).
    end = np.searchsorted(values, values[idx] + tol, side="right")
    inside = end < len(values)
    safe = np.minimum(end, len(values) - 1)
    halfway = values[end - 1] / 2 + values[safe] / 2
    edges = np.where(inside, halfway, values[-1] + tol)
    return np.unique(edges)


def bin_counts(values: FloatArray, weights: FloatArray, edges: FloatArray) -> FloatArray:
    """Weight per right-closed bin (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    index = np.searchsorted(edges, values, side="left")
    return np.bincount(index, weights=weights, minlength=len(edges) + 1).astype(np.float64)


def psi(reference: FloatArray, current: FloatArray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index sum((q - p) * ln(q / p)) over bins, shares floored at epsilon."""
    p = np.maximum(reference / reference.sum(), epsilon)
    q = np.maximum(current / current.sum(), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


Ecdfs = tuple[FloatArray, FloatArray, FloatArray]


def ecdfs(v1: FloatArray, w1: FloatArray, v2: FloatArray, w2: FloatArray) -> Ecdfs:
    """(grid, F1, F2): both right-continuous ECDFs (P[X <= x]) on the union of the values."""
    grid = np.union1d(v1, v2)

    def cdf(values: FloatArray, weights: FloatArray) -> FloatArray:
        # Each value is on the grid: drop its weight there and accumulate.
        at = np.searchsorted(grid, values)
        mass = np.bincount(at, weights=weights, minlength=len(grid))
        return np.cumsum(mass) / np.sum(weights)

    return grid, cdf(v1, w1), cdf(v2, w2)


def ks_statistic(
    v1: FloatArray, w1: FloatArray, v2: FloatArray, w2: FloatArray, *, cdfs: Ecdfs | None = None
) -> float:
    """Two-sample Kolmogorov-Smirnov D = sup |F1 - F2| (as scipy.stats.ks_2samp)."""
    _, f1, f2 = cdfs if cdfs is not None else ecdfs(v1, w1, v2, w2)
    return float(np.max(np.abs(f1 - f2)))


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
        with warnings.catch_warnings():
            # scipy warns when its exact method falls back to "asymp"; the fallback is fine.
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(sps.ks_2samp(samples[0], samples[1], method="auto").pvalue)
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(sps.kstwo.sf(d, np.round(en)), 0.0, 1.0))


def wasserstein(
    v1: FloatArray, w1: FloatArray, v2: FloatArray, w2: FloatArray, *, cdfs: Ecdfs | None = None
) -> float:
    """First Wasserstein distance: integral of |F1 - F2| (as scipy.stats.wasserstein_distance)."""
    grid, f1, f2 = cdfs if cdfs is not None else ecdfs(v1, w1, v2, w2)
    if len(grid) < 2:
        return 0.0
    return float(np.sum(np.abs(f1[:-1] - f2[:-1]) * np.diff(grid)))


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
    """P-value that k1/n1 and k2/n2 share one rate: chi-square on the 2 x 2 table, or Fisher's
    exact test when an expected count is below 5 (where the chi-square approximation fails)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]], dtype=np.float64)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    if expected.min() < 5:
        return float(sps.fisher_exact(table.astype(np.int64)).pvalue)
    _, p, _ = chi2_homogeneity(table[0], table[1])
    return p


def beyond_extreme_pvalue(k: int, n: int, m: int) -> float:
    """P[the k largest of n reference + m current values are all current] = C(m,k) / C(n+m,k).

    Exact for exchangeable continuous data (ties only make it conservative): the p-value of
    seeing k current values above the reference maximum (or, mirrored, below its minimum).
    """
    if k <= 0:
        return 1.0
    if k > m:
        return 0.0
    log_p = gammaln(m + 1) - gammaln(m - k + 1) - gammaln(n + m + 1) + gammaln(n + m - k + 1)
    return float(np.exp(log_p))


def unseen_pvalue(k: int, m: int, singletons: int, doubletons: int, n: int) -> float:
    """One-sided p-value that k of m current values are new to an n-value reference.

    Under no change the new share is about the reference's missing mass, estimated by
    Good-Turing as N1/n (N1 categories seen once). The variance adds the binomial variance of
    the current share and the estimator's, [N1 (1 - N1/n) + 2 N2] / n**2 (Esty, 1983).
    """
    if k <= 0:
        return 1.0
    p0 = singletons / n
    share = k / m
    variance = p0 * (1 - p0) / m + (singletons * (1 - p0) + 2 * doubletons) / n**2
    if variance <= 0:
        return 0.0 if share > p0 else 1.0
    return float(sps.norm.sf((share - p0) / math.sqrt(variance)))
