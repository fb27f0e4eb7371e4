"""Inline SVG plots for the HTML report: overlaid histograms and paired category bars.

Plain SVG text, no scripts and no external resources, so the report opens offline.
"""

from __future__ import annotations

import math
from html import escape

REFERENCE_COLOR = "#3b6fb6"
CURRENT_COLOR = "#e07b27"
WIDTH = 640
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 12, 26, 34


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def _pct(value: float) -> str:
    return f"{value * 100:.3g}%"


def _legend(x: float) -> str:
    return (
        f'<g class="legend" font-size="11">'
        f'<rect x="{x:.1f}" y="6" width="10" height="10" fill="{REFERENCE_COLOR}" fill-opacity="0.45"/>'
        f'<text x="{x + 14:.1f}" y="15">reference</text>'
        f'<rect x="{x + 80:.1f}" y="6" width="10" height="10" fill="{CURRENT_COLOR}" fill-opacity="0.45"/>'
        f'<text x="{x + 94:.1f}" y="15">current</text></g>'
    )


def histogram_svg(
    edges: tuple[float, ...] | list[float],
    reference: tuple[float, ...] | list[float],
    current: tuple[float, ...] | list[float],
    *,
    log_x: bool = False,
    title: str = "",
    height: int = 220,
) -> str:
    """Two step histograms (shares per bin) drawn over each other on shared axes."""
    width = WIDTH
    x0, x1 = MARGIN_LEFT, width - MARGIN_RIGHT
    y0, y1 = height - MARGIN_BOTTOM, MARGIN_TOP
    lo, hi = edges[0], edges[-1]
    if log_x:
        tx = lambda v: x0 + (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)) * (x1 - x0)  # noqa: E731
    else:
        tx = lambda v: x0 + (v - lo) / (hi - lo) * (x1 - x0)  # noqa: E731
    top = max([*reference, *current, 1e-12]) * 1.08
    ty = lambda s: y0 - s / top * (y0 - y1)  # noqa: E731

    def step(shares: tuple[float, ...] | list[float]) -> str:
        points = [f"M{tx(edges[0]):.2f},{y0:.2f}"]
        for i, share in enumerate(shares):
            points.append(f"L{tx(edges[i]):.2f},{ty(share):.2f}")
            points.append(f"L{tx(edges[i + 1]):.2f},{ty(share):.2f}")
        points.append(f"L{tx(edges[-1]):.2f},{y0:.2f}Z")
        return "".join(points)

    parts = [
        f'<svg class="plot histogram" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f"<title>{escape(title or 'distribution')}</title>",
        f'<path class="reference" d="{step(reference)}" fill="{REFERENCE_COLOR}" '
        f'fill-opacity="0.35" stroke="{REFERENCE_COLOR}" stroke-width="1.2"/>',
        f'<path class="current" d="{step(current)}" fill="{CURRENT_COLOR}" '
        f'fill-opacity="0.25" stroke="{CURRENT_COLOR}" stroke-width="1.8"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#444"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#444"/>',
    ]
    for tick in _x_ticks(lo, hi, log_x):
        x = tx(tick)
        parts.append(
            f'<line x1="{x:.2f}" y1="{y0}" x2="{x:.2f}" y2="{y0 + 4}" stroke="#444"/>'
            f'<text x="{x:.2f}" y="{y0 + 16}" font-size="10" text-anchor="middle">{escape(_fmt(tick))}</text>'
        )
    for frac in (0.0, 0.5, 1.0):
        share = top / 1.08 * frac
        y = ty(share)
        parts.append(
            f'<text x="{x0 - 4}" y="{y + 3:.2f}" font-size="10" text-anchor="end">{_pct(share)}</text>'
        )
    scale = "log scale" if log_x else "value"
    parts.append(
        f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 4}" font-size="10" text-anchor="middle" '
        f'fill="#555">{scale}; bar height = share of rows</text>'
    )
    parts.append(_legend(x1 - 160))
    parts.append("</svg>")
    return "".join(parts)


def _x_ticks(lo: float, hi: float, log_x: bool) -> list[float]:
    if log_x:
        first, last = math.ceil(math.log10(lo)), math.floor(math.log10(hi))
        step = max(1, (last - first) // 6 + 1)
        ticks = [10.0**k for k in range(first, last + 1, step)]
        return ticks or [lo, hi]
    return [lo + (hi - lo) * i / 4 for i in range(5)]


def bars_svg(
    labels: tuple[str, ...] | list[str],
    reference: tuple[float, ...] | list[float],
    current: tuple[float, ...] | list[float],
    *,
    title: str = "",
    max_label: int = 22,
) -> str:
    """Per-category share bars, reference above current, one row per category."""
    row = 24
    label_width = 150
    width = WIDTH
    height = MARGIN_TOP + row * len(labels) + 24
    x0, x1 = label_width, width - 110
    top = max([*reference, *current, 1e-12])
    parts = [
        f'<svg class="plot bars" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f"<title>{escape(title or 'categories')}</title>",
    ]
    for i, label in enumerate(labels):
        y = MARGIN_TOP + i * row
        short = label if len(label) <= max_label else label[: max_label - 1] + "…"
        shown = short if short.strip() else repr(short)
        wr = (x1 - x0) * reference[i] / top
        wc = (x1 - x0) * current[i] / top
        parts.append(
            f'<g class="category"><title>{escape(repr(label))}: reference {_pct(reference[i])}, '
            f"current {_pct(current[i])}</title>"
            f'<text x="{x0 - 6}" y="{y + 14}" font-size="11" text-anchor="end">{escape(shown)}</text>'
            f'<rect class="reference" x="{x0}" y="{y + 2}" width="{wr:.2f}" height="9" '
            f'fill="{REFERENCE_COLOR}" fill-opacity="0.7"/>'
            f'<rect class="current" x="{x0}" y="{y + 11}" width="{wc:.2f}" height="9" '
            f'fill="{CURRENT_COLOR}" fill-opacity="0.7"/>'
            f'<text x="{x0 + max(wr, wc) + 4:.2f}" y="{y + 14}" font-size="10" fill="#555">'
            f"{_pct(reference[i])} / {_pct(current[i])}</text></g>"
        )
    parts.append(
        f'<line x1="{x0}" y1="{MARGIN_TOP - 2}" x2="{x0}" y2="{height - 20}" stroke="#444"/>'
    )
    parts.append(_legend(width - 180))
    parts.append("</svg>")
    return "".join(parts)
