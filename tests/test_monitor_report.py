"""The HTML report is one self-contained page: a summary, features worst first, a plot each."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from featuredsl.monitor.report import render_html
from featuredsl.monitor.severity import RANK
from featuredsl.monitor.skew import compare

EVIL = "<script>alert(1)</script>"


class Page(HTMLParser):
    """Collects the feature sections, their SVG plots and every tag/attribute seen."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[dict] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs
        attributes = dict(attrs)
        if tag == "section" and "feature" in (attributes.get("class") or ""):
            self.sections.append({**attributes, "svg": [], "shapes": []})
        elif self.sections and tag == "svg":
            self.sections[-1]["svg"].append(attributes.get("class"))
        elif self.sections and tag in ("path", "rect"):
            self.sections[-1]["shapes"].append((tag, attributes.get("class")))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def report_and_html():
    rng = np.random.default_rng(0)
    n = 4000
    reference = {
        "income": rng.lognormal(10, 0.5, n),
        "age": rng.normal(40, 10, n),
        "country": rng.choice(np.array(["US", "DE", "<b>x</b>"], dtype=object), n),
        EVIL: rng.normal(0, 1, n),
        "gone": rng.normal(0, 1, n),
    }
    current = {
        "income": rng.lognormal(10, 0.5, n) * 100,  # severe
        "age": rng.normal(40, 10, n),  # none
        "country": rng.choice(np.array(["us", "DE", "<b>x</b>"], dtype=object), n),  # severe
        EVIL: rng.normal(0.45, 1, n),  # moderate or so
    }
    report = compare(reference, current)
    return report, render_html(report)


def test_page_has_summary_and_sections_worst_first(report_and_html) -> None:
    report, html = report_and_html
    page = Page()
    page.feed(html)
    assert html.startswith("<!DOCTYPE html>")
    names = [s["data-feature"] for s in page.sections]
    assert sorted(names) == sorted(f.name for f in report.features)
    ranks = [RANK[s["data-severity"]] for s in page.sections]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] == RANK["severe"]
    body = " ".join(page.text)
    assert "Summary" in body and "columns flagged" in body
    for feature in report.features:
        assert feature.recommendation in body


def test_every_compared_feature_has_an_overlaid_plot(report_and_html) -> None:
    report, html = report_and_html
    page = Page()
    page.feed(html)
    by_name = {s["data-feature"]: s for s in page.sections}
    for feature in report.features:
        section = by_name[feature.name]
        if feature.status == "missing":
            assert section["svg"] == []
            continue
        assert feature.plot is not None
        kind = feature.plot.kind
        assert section["svg"] == [f"plot {kind}"]
        shape = "path" if kind == "histogram" else "rect"
        classes = {cls for tag, cls in section["shapes"] if tag == shape}
        assert {"reference", "current"} <= classes  # both distributions drawn
    # Each plot is well-formed SVG with real geometry.
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert len(svgs) == sum(f.status == "compared" for f in report.features)
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag == "svg"
        paths = [e.get("d") for e in root.iter("path")]
        assert all(d and d.startswith("M") and "nan" not in d for d in paths)


def test_bar_lengths_follow_the_shares(report_and_html) -> None:
    report, html = report_and_html
    country = report.get("country")
    svg = re.search(r'data-feature="country".*?(<svg\b.*?</svg>)', html, flags=re.S).group(1)  # type: ignore[union-attr]
    root = ET.fromstring(svg)
    widths = {
        cls: [float(r.get("width")) for r in root.iter("rect") if r.get("class") == cls]
        for cls in ("reference", "current")
    }
    plot = country.plot
    assert plot is not None
    top = max(*plot.reference, *plot.current)
    scale = max(widths["reference"] + widths["current"]) / top
    np.testing.assert_allclose(widths["reference"], np.array(plot.reference) * scale, atol=0.01)
    np.testing.assert_allclose(widths["current"], np.array(plot.current) * scale, atol=0.01)


def test_page_needs_no_network_and_escapes_names(report_and_html) -> None:
    _, html = report_and_html
    page = Page()
    page.feed(html)
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert not [
        a for a in page.attrs if a[0] in ("src", "href") and not (a[1] or "").startswith("#")
    ]
    assert "http://" not in html and "https://" not in html and "@import" not in html
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html
