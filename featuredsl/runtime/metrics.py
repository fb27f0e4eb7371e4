"""The Prometheus metrics of `featuredsl serve` (prometheus-client, the `serve` extra).

One registry per server (several servers can live in one process, as in tests):

    featuredsl_requests_total{status}            POST /predict by HTTP status
    featuredsl_request_errors_total{kind}        refused or failed requests by kind
    featuredsl_request_latency_seconds           histogram, body received to response built
    featuredsl_rows_total                        rows served
    featuredsl_feature_null_rate{feature}        gauge: NaN share of each served feature column
    featuredsl_shadow_*_total                    the candidate's requests, rows, differing rows,
                                                 errors and skips
    featuredsl_shadow_disagreement_rate          gauge: differing rows / compared rows
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    """The server's Prometheus metrics, in a registry of its own (several apps per process).

    Counters: requests by HTTP status, errors by kind, rows served, shadow requests / rows /
    differing rows / errors / skips. Histogram: /predict latency in seconds (body received to
    response built). Gauges computed at scrape time: null rate per served feature (NaN share of
    the `features` column over every served row) and the shadow disagreement rate (differing
    rows / compared rows).
    """

    def __init__(self, feature_names: Sequence[str], shadow: bool) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "featuredsl_requests",
            "POST /predict requests by HTTP status",
            ["status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "featuredsl_request_errors",
            "POST /predict requests refused or failed, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.rows = Counter("featuredsl_rows", "rows served", registry=self.registry)
        self.latency = Histogram(
            "featuredsl_request_latency_seconds",
            "POST /predict latency, body received to response built",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.shadow = shadow
        self.shadow_requests = Counter(
            "featuredsl_shadow_requests", "requests run by the candidate", registry=self.registry
        )
        self.shadow_rows = Counter(
            "featuredsl_shadow_rows", "rows compared with the candidate", registry=self.registry
        )
        self.shadow_differ = Counter(
            "featuredsl_shadow_rows_differ",
            "rows where any output shared with the candidate differs",
            registry=self.registry,
        )
        self.shadow_errors = Counter(
            "featuredsl_shadow_errors",
            "requests the candidate refused or failed on",
            registry=self.registry,
        )
        self.shadow_skipped = Counter(
            "featuredsl_shadow_skipped",
            "requests not shadowed because the backlog was full",
            registry=self.registry,
        )
        self.feature_names = tuple(feature_names)
        self._lock = threading.Lock()
        self._served_rows = 0
        self._nulls = np.zeros(len(self.feature_names), dtype=np.int64)
        self._compared = 0
        self._differ = 0
        self.registry.register(_Derived(self))

    def served(self, features: np.ndarray | None, rows: int) -> None:
        """Count a served request's rows and its features' nulls (NaN)."""
        self.rows.inc(rows)
        if features is None or features.ndim != 2 or features.shape[1] != len(self._nulls):
            return
        nulls = np.isnan(features).sum(axis=0)
        with self._lock:
            self._served_rows += rows
            self._nulls += nulls

    def compared(self, rows: int, differ: int) -> None:
        """Count a shadowed request's compared and differing rows."""
        self.shadow_requests.inc()
        self.shadow_rows.inc(rows)
        self.shadow_differ.inc(differ)
        with self._lock:
            self._compared += rows
            self._differ += differ

    def null_rates(self) -> dict[str, float]:
        """Feature name -> share of served rows whose value is null (NaN); NaN before any row."""
        with self._lock:
            rows, nulls = self._served_rows, self._nulls.copy()
        return {
            n: (int(k) / rows if rows else math.nan)
            for n, k in zip(self.feature_names, nulls, strict=True)
        }

    def disagreement_rate(self) -> float:
        """Differing rows / compared rows since start (NaN before any)."""
        with self._lock:
            return self._differ / self._compared if self._compared else math.nan


class _Derived:
    """Gauges computed from the counters at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        nulls = GaugeMetricFamily(
            "featuredsl_feature_null_rate",
            "share of served rows whose feature is null (NaN)",
            labels=["feature"],
        )
        for name, rate in self.metrics.null_rates().items():
            nulls.add_metric([name], rate)
        yield nulls
        if self.metrics.shadow:
            yield GaugeMetricFamily(
                "featuredsl_shadow_disagreement_rate",
                "rows where the candidate differs / rows compared",
                value=self.metrics.disagreement_rate(),
            )
