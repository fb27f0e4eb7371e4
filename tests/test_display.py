"""Notebook display (`_repr_html_`) of builds, skew reports, profiles, parity and shadow
results, from the HTML report's templates; and `featuredsl show DIR`."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from test_bundle import churn_csv, churn_fitted, churn_spec, run_cli

from featuredsl.artifact.load import load
from featuredsl.ingest import read_table
from featuredsl.monitor import compare, profile_data
from featuredsl.monitor.report import render_html
from featuredsl.parity.runner import run_parity
from featuredsl.runtime.shadow import shadow

SCOPED = ".featuredsl table {"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr"}


class Balance(HTMLParser):
    """Every opened element is closed, in order (SVG's self-closing elements aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: object) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (self.open[-3:], tag)
        self.open.pop()


def well_formed(shown: str) -> bool:
    parser = Balance()
    parser.feed(shown)
    parser.close()
    return parser.open == []


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("display") / "churn"
    churn_fitted().save(out)
    return out


def plan_counts() -> dict[str, int]:
    """vocab(plan_f)'s training counts: plan with its nulls filled as "none"."""
    plans = read_table(churn_csv(), churn_spec().inputs).column("plan").to_pylist()
    filled = ["none" if p is None else p for p in plans]
    return {p: filled.count(p) for p in set(filled)}


def test_a_fitted_spec_shows_constants_contract_and_quality(build: Path) -> None:
    for shown in (churn_fitted()._repr_html_(), load(build)._repr_html_()):
        assert shown.startswith('<div class="featuredsl">') and SCOPED in shown
        assert "<html" not in shown and "<body" not in shown and well_formed(shown)
        text = html.unescape(re.sub(r"<[^>]+>", " ", shown))
        for heading in (
            "Input contract",
            "Fitted statistics",
            "Boundaries",
            "Vocabulary: vocab(plan_f)",
            "Data quality of the training features",
        ):
            assert heading in text
        assert "median(age)" in text and "38.3" in text
        # Vocabularies list each value with its training count.
        for plan, count in plan_counts().items():
            assert re.search(rf"'{plan}'\s+{count:,}\s", text), plan
        # Escaped: the one-hot column "plan_oh[<oov>]" is text, never a tag.
        assert "plan_oh[&lt;oov&gt;]" in shown and "<oov>" not in shown


def test_the_manifest_records_vocabulary_counts(build: Path) -> None:
    manifest = load(build).manifest
    (plan,) = [c for c in manifest["constants"] if c["expression"] == "vocab(plan_f)"]
    assert dict(zip(plan["value"], plan["counts"], strict=True)) == plan_counts()


def test_a_skew_report_shows_the_html_reports_content() -> None:
    rng = np.random.default_rng(0)
    report = compare({"x": rng.normal(0, 1, 2000)}, {"x": rng.normal(0.5, 1, 2000)})
    shown = report._repr_html_()
    page = render_html(report)
    assert shown.startswith('<div class="featuredsl">') and SCOPED in shown
    body = page[page.index("<body>") + len("<body>\n") : page.index("</body>")]
    assert body in shown  # the very same content template
    assert well_formed(shown)


def test_a_profile_shows_every_column() -> None:
    shown = profile_data(
        {"age": np.array([1.0, np.nan, 3.0]), "plan": np.array(["a", "b", "a"], dtype=object)}
    )._repr_html_()
    assert well_formed(shown)
    text = html.unescape(re.sub(r"<[^>]+>", " ", shown))
    assert "Group: features" in text and "33.33%" in text  # age: one null in three
    assert "'a' 2" in text and "range [1, 3]" in text


def test_parity_and_shadow_results_show_their_verdict(build: Path) -> None:
    parity = run_parity(build, data_feed=churn_fitted().feed(churn_csv()))
    shown = parity._repr_html_()
    assert "numpy module vs ONNX graph" in shown and "sev-none" in shown  # status ok
    assert well_formed(shown)
    for name in churn_fitted().feature_names:
        assert html.escape(name) in shown
    report = shadow(build, build, data=churn_csv())
    shown = report._repr_html_()
    assert "rows where any output differs" in shown and "features" in shown
    assert well_formed(shown)


def test_show_prints_a_builds_tables(build: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["show", str(build)]) == 0
    out = capsys.readouterr().out
    for heading in ("Input contract", "Fitted statistics", "Boundaries", "vocab(plan_f)"):
        assert heading in out
    for plan, count in plan_counts().items():
        assert plan in out and f"{count:,}" in out
    assert run_cli(["show", str(build.parent / "missing")]) != 0
