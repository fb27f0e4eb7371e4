"""Replay recomputes logged requests with the training module and counts, per feature, exactly
which rows were served differently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_monitor_support import make_session, make_transform

from featuredsl.errors import ArtifactError
from featuredsl.monitor.replay import replay
from featuredsl.monitor.serving_log import LoggedSession

FP = "fp-income-v1"
INPUTS = ("income", "age")
NAMES = ("income_x2", "age_p1")


class CentsClient:
    """A serving client whose hand-written preprocessing sends income in cents when `cents`
    is set (say, requests from the mobile app), before the ONNX features run."""

    def __init__(self, session) -> None:
        self.session = session
        self.cents = False

    def run(self, output_names, feed, run_options=None):
        if self.cents:
            feed = {**feed, "income": feed["income"] * 100.0}
        return self.session.run(output_names, feed)

    def get_modelmeta(self):
        return self.session.get_modelmeta()

    def get_outputs(self):
        return self.session.get_outputs()


def _write_log(log: Path, requests: int = 150, seed: int = 0) -> tuple[int, int, float]:
    """Log traffic where ~30% of requests went through the cents path; return the number of
    rows whose income feature was served wrong, the total rows and the largest error."""
    rng = np.random.default_rng(seed)
    client = CentsClient(make_session(fingerprint=FP, inputs=INPUTS, feature_names=NAMES))
    logged = LoggedSession(client, log, FP)
    wrong = total = 0
    worst = 0.0
    for i in range(requests):
        rows = int(rng.integers(1, 20))
        income = rng.lognormal(10, 1, rows).round(2)
        income[rng.random(rows) < 0.1] = np.nan  # nulls stay null in any unit
        feed = {"income": income, "age": rng.integers(18, 90, rows).astype(np.float64)}
        client.cents = bool(rng.random() < 0.3)
        logged.run(["features"], feed, request_id=f"req-{i}")
        total += rows
        if client.cents:
            present = ~np.isnan(income)
            wrong += int(present.sum())
            if present.any():
                worst = max(
                    worst, float(np.max(np.abs(income[present] * 200.0 - income[present] * 2.0)))
                )
    logged.close()
    return wrong, total, worst


def test_replay_reports_the_mismatch_rate_exactly(tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    wrong, total, worst = _write_log(log)
    report = replay(make_transform(INPUTS), FP, NAMES, log)
    income, age = report.features
    assert (report.requests, report.rows) == (150, total)
    assert income.name == "income_x2"
    assert (income.mismatch, income.missing, income.extra) == (wrong, 0, 0)
    assert income.match == total - wrong
    assert income.mismatch_rate == wrong / total
    assert income.max_abs_diff == pytest.approx(worst, rel=1e-12)
    assert (age.match, age.mismatch_rate, age.max_abs_diff) == (total, 0.0, None)
    assert report.failed and report.failures() == [
        f"income_x2: mismatch rate {wrong / total:.4%} > 0.0000%"
    ]
    example = income.examples[0]
    assert example.served == pytest.approx(100 * example.expected)  # type: ignore[operator]
    assert set(example.inputs) == {"income", "age"}
    assert example.expected == pytest.approx(2 * example.inputs["income"])
    assert len(income.examples) == 5 and age.examples == ()
    text = report.render_text()
    assert "income_x2" in text and "FAIL" in text
    assert not replay(make_transform(INPUTS), FP, NAMES, log, threshold=0.5).failed


def test_requests_served_by_another_artifact_are_counted_not_compared(tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    current = LoggedSession(make_session(fingerprint="fp-new"), log, "fp-new")
    old = LoggedSession(make_session(fingerprint="fp-old"), log, "fp-old")
    feed = {"x": np.array([1.0, 2.0, 3.0]), "y": np.array([0.0, 0.0, 0.0])}
    for _ in range(4):
        current.run(None, feed)
    for _ in range(2):
        old.run(None, feed)
    report = replay(make_transform(), "fp-new", ("x2", "y1"), log)
    assert (report.requests, report.rows) == (4, 12)
    (mismatch,) = report.fingerprint_mismatches
    assert (mismatch.fingerprint, mismatch.requests, mismatch.rows) == ("fp-old", 2, 6)
    assert all(f.mismatch_rate == 0.0 for f in report.features)
    assert report.fingerprint_mismatch_rate == pytest.approx(6 / 18)
    assert report.failed  # by default any other artifact fails the replay
    tolerant = replay(make_transform(), "fp-new", ("x2", "y1"), log, fingerprint_threshold=0.5)
    assert not tolerant.failed


class ScriptedSession:
    """Serves a fixed feature matrix (any values) to exercise every outcome of a comparison."""

    def __init__(self, served: np.ndarray) -> None:
        self.served = served

    def run(self, output_names, feed, run_options=None):
        return [self.served]


def test_match_mismatch_missing_extra_and_tolerance(tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    x = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 0.0, 7.0])
    # training computes x * 2 = [2, 4, nan, 8, 10, 0, 14]
    served = np.array([2.0, 4.5, np.nan, np.nan, 10.0, -0.0, np.nextafter(14.0, 20.0)])
    served[2] = 3.0  # training gives null, serving a value: extra
    # row 1 mismatch, row 3 missing (served null), row 5 -0.0 vs 0.0, row 6 one ULP off
    feed = {"x": x, "y": np.zeros(7)}
    y_served = np.ones(7)
    with LoggedSession(
        ScriptedSession(np.column_stack([served, y_served])), log, FP, feature_names=["x2", "y1"]
    ) as session:
        session.run(["features"], feed, request_id="r1")
    report = replay(make_transform(), FP, ("x2", "y1"), log)
    x2, y1 = report.features
    assert (x2.match, x2.mismatch, x2.missing, x2.extra) == (4, 1, 1, 1)
    assert x2.max_abs_diff == 0.5
    assert [e.row for e in x2.examples] == [1, 2, 3]
    assert x2.examples[1].expected == "NaN" and x2.examples[1].inputs["x"] == "NaN"
    assert y1.match == 7
    exact = replay(make_transform(), FP, ("x2", "y1"), log, exact=True).features[0]
    assert (exact.match, exact.mismatch) == (2, 3)  # -0.0 and the ULP now count
    json.loads(report.to_json())  # serialisable, NaN written as a string


def test_features_missing_from_or_extra_in_the_log(tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    with LoggedSession(
        ScriptedSession(np.array([[2.0, 9.0]])), log, FP, feature_names=["x2", "zz"]
    ) as session:
        session.run(["features"], {"x": np.array([1.0]), "y": np.array([1.0])})
    report = replay(make_transform(), FP, ("x2", "y1"), log)
    assert report.missing_features == ("y1",) and report.extra_features == ("zz",)
    y1 = report.features[1]
    assert (y1.rows, y1.missing, y1.mismatch_rate) == (1, 1, 1.0)


def test_training_module_failures_are_findings(tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    with LoggedSession(make_session(), log, "fp-test-0001") as session:
        session.run(None, {"x": np.array([1.0]), "y": np.array([1.0])}, request_id="ok")
        session.run(None, {"x": np.array([-1.0]), "y": np.array([1.0])}, request_id="bad")

    def picky(feed):
        if np.any(feed["x"] < 0):
            raise ValueError("x must be >= 0")
        return make_transform()(feed)

    report = replay(picky, "fp-test-0001", ("x2", "y1"), log)
    assert report.requests == 1
    (error,) = report.transform_errors
    assert (error.request_id, error.rows) == ("bad", 1) and "x must be >= 0" in error.message
    assert report.failed


def test_a_log_without_feature_names_must_match_in_width(tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    with LoggedSession(ScriptedSession(np.ones((1, 3))), log, FP) as session:
        session.run(["features"], {"x": np.array([1.0]), "y": np.array([1.0])})
    with pytest.raises(ArtifactError, match="serves 3 features where the training module has 2"):
        replay(make_transform(), FP, ("x2", "y1"), log)
    with pytest.raises(ArtifactError, match="no output 'scores'"):
        replay(make_transform(), FP, ("x2", "y1"), log, output="scores")
