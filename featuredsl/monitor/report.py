"""Render a SkewReport as one self-contained HTML page (inline CSS and SVG, no scripts)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from featuredsl import __version__
from featuredsl.artifact.display import environment, notebook
from featuredsl.language.durations import human_duration
from featuredsl.monitor.findings import FeatureSkew, SkewReport
from featuredsl.monitor.recommend import as_date
from featuredsl.monitor.severity import H_BANDS, KS_BANDS, PSI_BANDS, SEVERITIES
from featuredsl.monitor.svg import bars_svg, histogram_svg

TEMPLATE = "report.html.j2"


def _environment() -> jinja2.Environment:
    return environment()


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-4):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


DAY = 86_400e6  # microseconds


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _anchor(feature: FeatureSkew, index: int) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{feature.group}-{feature.name}").strip("-")
    return f"f{index}-{slug}"


def _key_stat(f: FeatureSkew) -> str:
    if f.status in ("missing", "extra", "type_changed"):
        return f.status.replace("_", " ")
    if f.numeric is not None:
        head = (
            f"PSI {f.numeric.psi:.3f}"
            if f.method == "psi"
            else f"KS D {f.numeric.ks_statistic:.3f}"
        )
        return f"{head}; out of range {_pct(f.numeric.out_of_range_share)}"
    if f.categorical is not None:
        return f"PSI {f.categorical.psi:.3f}; unseen {_pct(f.categorical.unseen_share)}"
    return f.status


def _stats_rows(f: FeatureSkew) -> list[tuple[str, str]]:
    rows = [
        ("rows (reference / current)", f"{f.rows_reference:,} / {f.rows_current:,}"),
        ("null rate", f"{_pct(f.null_rate_reference)} -> {_pct(f.null_rate_current)}"),
    ]
    n = f.numeric
    # Instants are shown as dates; their spread (std) in days.
    when = as_date if f.temporal else _fmt
    if n is not None:
        spread = (
            f"{n.std_reference / DAY:.4g} days -> {n.std_current / DAY:.4g} days"
            if f.temporal
            else f"{_fmt(n.std_reference)} -> {_fmt(n.std_current)}"
        )
        rows += [
            ("finite values", f"{n.n_reference:,} / {n.n_current:,}"),
            ("PSI", _fmt(n.psi)),
            ("KS statistic / p-value", f"{_fmt(n.ks_statistic)} / {_fmt(n.ks_pvalue, 3)}"),
            (
                "Wasserstein (/ reference std)",
                f"{_fmt(n.wasserstein)} ({_fmt(n.wasserstein_normalized)})",
            ),
            ("Jensen-Shannon distance", _fmt(n.js_distance)),
            ("mean", f"{when(n.mean_reference)} -> {when(n.mean_current)}"),
            ("std", spread),
            ("median", f"{when(n.median_reference)} -> {when(n.median_current)}"),
            ("reference range", f"[{when(n.min_reference)}, {when(n.max_reference)}]"),
            ("out of range", _pct(n.out_of_range_share)),
            ("reference exact (not a sketch)", _fmt(n.reference_exact)),
        ]
    c = f.categorical
    if c is not None:
        rows += [
            ("values", f"{c.n_reference:,} / {c.n_current:,}"),
            ("categories", f"{c.categories_reference:,} / {c.categories_current:,}"),
            ("PSI (over buckets)", _fmt(c.psi)),
            (
                "chi-square / dof / p-value",
                f"{_fmt(c.chi2_statistic)} / {c.chi2_dof} / {_fmt(c.chi2_pvalue, 3)}",
            ),
            ("L-infinity", _fmt(c.linf)),
            ("Jensen-Shannon distance", _fmt(c.js_distance)),
            ("unseen share", _pct(c.unseen_share)),
            ("unseen examples", ", ".join(repr(x) for x in c.unseen_examples) or "none"),
        ]
    return rows


def _plot(f: FeatureSkew) -> tuple[Markup | None, str]:
    p = f.plot
    if p is None:
        return None, {
            "missing": "absent from the current data",
            "extra": "absent from the reference",
        }.get(f.status, "not enough values")
    title = f"{f.name}: reference vs current"
    if p.kind == "histogram":
        svg = histogram_svg(p.edges, p.reference, p.current, log_x=p.log_x, title=title)
    else:
        svg = bars_svg(p.labels, p.reference, p.current, title=title)
    # The SVG is built by our code with every label escaped; mark it safe for autoescape.
    return Markup(svg), ""


def _outside(f: FeatureSkew) -> str:
    p = f.plot
    if p is None or p.kind != "histogram":
        return ""
    (rb, ra), (cb, ca) = p.reference_outside, p.current_outside
    if max(rb, ra, cb, ca) == 0:
        return ""
    return (
        f"Outside the plotted range: reference {_pct(rb)} below / {_pct(ra)} above; "
        f"current {_pct(cb)} below / {_pct(ca)} above."
    )


def _feature_context(f: FeatureSkew, index: int) -> dict[str, Any]:
    plot, no_plot = _plot(f)
    return {
        "name": f.name,
        "group": f.group,
        "kind": f.kind,
        "method": f.method,
        "severity": f.severity,
        "reason": f.reason or "-",
        "recommendation": f.recommendation,
        "anchor": _anchor(f, index),
        "key_stat": _key_stat(f),
        "plot": plot,
        "no_plot_reason": no_plot,
        "outside": _outside(f),
        "checks": [
            {
                "name": c.name,
                "value": _fmt(c.value),
                "pvalue": _fmt(c.pvalue, 3),
                "severity": c.severity,
                "detail": c.detail,
            }
            for c in f.checks
        ],
        "stats": _stats_rows(f),
    }


def render_html(
    report: SkewReport,
    *,
    title: str = "featuredsl skew report",
    consistency: Mapping[str, Any] | None = None,
) -> str:
    """The skew report as a standalone HTML page; `consistency` (the JSON of `featuredsl
    consistency`, see `consistency_context`) adds the offline/online consistency section."""
    return _environment().get_template(TEMPLATE).render(**_context(report, title, consistency))


def notebook_html(report: SkewReport, *, title: str = "featuredsl skew report") -> str:
    """The skew report for a notebook (SkewReport._repr_html_): the page's content and
    stylesheet, scoped to one div."""
    return notebook("_skew.html.j2", **_context(report, title))


def _context(
    report: SkewReport, title: str, consistency: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    counts = report.counts()
    flagged = report.flagged()
    if flagged:
        names = ", ".join(f.name for f in flagged[:5]) + (" ..." if len(flagged) > 5 else "")
        headline = f"{len(flagged)} of {len(report.features)} columns flagged (worst: {report.worst}): {names}."
    else:
        headline = f"No skew flagged in {len(report.features)} columns."
    cfg = report.config
    context = {
        "title": title,
        "version": __version__,
        "reference": report.reference,
        "current": report.current,
        "counts": [(s, counts[s]) for s in reversed(SEVERITIES)],
        "headline": headline,
        "notes": list(report.notes),
        "features": [_feature_context(f, i) for i, f in enumerate(report.features)],
        "psi_bins": cfg.psi_bins,
        "psi_epsilon": cfg.psi_epsilon,
        "psi_min_rows": cfg.psi_min_rows,
        "alpha": cfg.alpha,
        "psi_bands": " / ".join(f"{b:g}" for b in PSI_BANDS),
        "ks_bands": " / ".join(f"{b:.3f}" for b in KS_BANDS),
        "h_bands": " / ".join(f"{b:g}" for b in H_BANDS),
        "freshness": [_freshness_row(f) for f in report.freshness],
        "consistency": None if consistency is None else consistency_context(consistency),
    }
    return context


def _ages(side: Any) -> str:
    if side.median is None:
        return "n/a"
    over = "n/a" if side.over_budget is None else f"{side.over_budget:.1%}"
    return f"{human_duration(side.median)} / {human_duration(side.p95)} / {over}"


def _freshness_row(f: Any) -> dict[str, Any]:
    """One row of the freshness section (a monitor.freshness.FreshnessFinding)."""
    return {
        "column": f.column,
        "as_of": f.as_of,
        "max_age": "none" if f.max_age is None else human_duration(f.max_age),
        "severity": f.severity,
        "training": _ages(f.training),
        "serving": _ages(f.serving),
        "reason": f.reason,
    }


def consistency_context(data: Mapping[str, Any]) -> dict[str, Any]:
    """The consistency section's context from a consistency report as JSON (the output of
    `featuredsl consistency --json`: rows, columns, worst_keys, headline, lag_text)."""
    columns = []
    for c in data["columns"]:
        rate = c["match"] / c["rows"] if c["rows"] else 1.0
        columns.append(
            {
                "name": c["name"],
                "rows": f"{c['rows']:,}",
                "match": f"{c['match']:,} ({rate:.2%})",
                "mismatch": f"{c['mismatch']:,}",
                "missing_online": f"{c['missing_online']:,}",
                "missing_offline": f"{c['missing_offline']:,}",
            }
        )
    return {
        "headline": str(data["headline"]) + ".",
        "lag": str(data["lag_text"]) + ".",
        "columns": columns,
        "worst_keys": [
            {"key": k["key"], "rows": f"{k['rows']:,}", "mismatched": f"{k['mismatched']:,}"}
            for k in data["worst_keys"]
        ],
    }


def render_page(template: str, **context: Any) -> str:
    """Another page in the report's style (e.g. consistency.html.j2), rendered with `context`."""
    return _environment().get_template(template).render(version=__version__, **context)


def write_html(report: SkewReport, path: str | Path, **kwargs: Any) -> None:
    Path(path).write_text(render_html(report, **kwargs), encoding="utf-8")
