"""What a skew comparison finds, per column and overall: plain frozen records, no logic.

Kept apart from `skew` (which computes them) and `recommend` (which reads them), so that the two
do not import each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featuredsl.monitor import stats
from featuredsl.monitor.columns import FEATURES
from featuredsl.monitor.jsonable import jsonable
from featuredsl.monitor.severity import ALPHA, RANK, Severity, worst

if TYPE_CHECKING:
    from featuredsl.monitor.freshness import FreshnessFinding


@dataclass(frozen=True)
class SkewConfig:
    psi_bins: int = stats.PSI_BINS
    psi_epsilon: float = stats.PSI_EPSILON
    alpha: float = ALPHA
    # Below min_rows values on a side a column is not judged; below psi_min_rows (10 per PSI
    # bin) numeric columns are judged by KS instead of PSI.
    min_rows: int = 20
    psi_min_rows: int = 100
    # Categories under this share on both sides share one "(other)" bucket for PSI/chi-square.
    category_min_share: float = 0.005
    max_category_buckets: int = 50
    plot_bins: int = 40


@dataclass(frozen=True)
class Check:
    """One rated signal: its effect size, the p-value that gates it, its severity."""

    name: str  # schema | distribution | null_rate | imputed | out_of_range | unseen | mean_shift
    value: float | None
    pvalue: float | None
    severity: Severity
    detail: str


@dataclass(frozen=True)
class NumericStats:
    n_reference: int  # finite values
    n_current: int
    psi: float
    psi_edges: tuple[float, ...]  # inner edges of the right-closed reference-quantile bins
    psi_reference: tuple[float, ...]  # share per bin
    psi_current: tuple[float, ...]
    ks_statistic: float
    ks_pvalue: float
    wasserstein: float
    wasserstein_normalized: float | None  # / reference std; None when that std is 0
    js_distance: float  # base 2, over the PSI bins
    mean_reference: float
    mean_current: float
    std_reference: float
    std_current: float
    median_reference: float
    median_current: float
    min_reference: float
    max_reference: float
    out_of_range_share: float
    inf_current: int
    reference_exact: bool  # False when the reference is a quantile sketch

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(self))


@dataclass(frozen=True)
class CategoricalStats:
    n_reference: int  # non-null values
    n_current: int
    psi: float
    buckets: tuple[str, ...]  # categories with their own PSI/chi-square bucket, then OTHER
    bucket_reference: tuple[float, ...]  # share per bucket
    bucket_current: tuple[float, ...]
    chi2_statistic: float
    chi2_pvalue: float
    chi2_dof: int
    linf: float
    js_distance: float
    categories_reference: int
    categories_current: int
    unseen_share: float | None  # None when the reference tracks only frequent categories
    unseen_examples: tuple[str, ...]
    reference_complete: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(self))


@dataclass(frozen=True)
class Plot:
    """Data of the overlaid-distribution plot: histogram shares or per-category bars."""

    kind: str  # "histogram" | "bars"
    edges: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()
    reference: tuple[float, ...] = ()
    current: tuple[float, ...] = ()
    log_x: bool = False
    reference_outside: tuple[float, float] = (0.0, 0.0)  # share below / above the plotted range
    current_outside: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class FeatureSkew:
    name: str
    group: str
    kind: str  # numeric | categorical
    status: str  # compared | insufficient | missing | extra | type_changed
    method: str  # psi | ks | none
    severity: Severity
    reason: str  # the check that set the severity
    recommendation: str
    rows_reference: int
    rows_current: int
    null_rate_reference: float | None
    null_rate_current: float | None
    checks: tuple[Check, ...] = ()
    numeric: NumericStats | None = None
    categorical: CategoricalStats | None = None
    plot: Plot | None = None
    temporal: bool = False  # a timestamp column: its numbers are microseconds since the epoch

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(self))


@dataclass(frozen=True)
class SkewReport:
    reference: str
    current: str
    features: tuple[FeatureSkew, ...]
    config: SkewConfig = field(default_factory=SkewConfig)
    notes: tuple[str, ...] = ()
    # Freshness section: ages in training vs serving per as-of input (monitor.freshness).
    freshness: tuple[FreshnessFinding, ...] = ()

    def counts(self) -> dict[str, int]:
        counts = {s: 0 for s in RANK}
        for feature in self.features:
            counts[feature.severity] += 1
        return counts

    @property
    def worst(self) -> Severity:
        severities = [f.severity for f in self.features]
        return worst(severities + [f.severity for f in self.freshness])

    def stale(self, at_least: Severity = "minor") -> tuple[FreshnessFinding, ...]:
        """The freshness findings at least this severe."""
        return tuple(f for f in self.freshness if RANK[f.severity] >= RANK[at_least])

    def flagged(self, at_least: Severity = "minor") -> tuple[FeatureSkew, ...]:
        return tuple(f for f in self.features if RANK[f.severity] >= RANK[at_least])

    def get(self, name: str, group: str = FEATURES) -> FeatureSkew:
        for feature in self.features:
            if feature.name == name and feature.group == group:
                return feature
        raise KeyError(f"{group}/{name}")

    def to_dict(self) -> dict[str, Any]:
        out = dict(jsonable(self))
        out["counts"] = self.counts()
        out["worst"] = self.worst
        return out

    def _repr_html_(self) -> str:
        """The HTML report's content, for notebooks."""
        from featuredsl.monitor.report import notebook_html

        return notebook_html(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"
