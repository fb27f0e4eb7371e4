"""Smoke test of the benchmark (bench/run.py --quick logic) on a small table."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")

from bench import run as bench_run  # noqa: E402


@pytest.fixture(scope="module")
def results() -> bench_run.Results:
    settings = dataclasses.replace(
        bench_run.Settings.quick(rows=2_000), repeat=1, latency_calls=100
    )
    return bench_run.run(settings)


def test_hand_written_baseline_agrees_with_generated_module(results: bench_run.Results) -> None:
    hand = results.agreement[0]
    assert hand.name == "hand-written numpy vs generated module"
    assert hand.max_abs_diff <= bench_run.AGREEMENT_TOLERANCE
    assert hand.columns == results.columns == 36


def test_other_pairs_agree(results: bench_run.Results) -> None:
    diffs = {a.name: a.max_abs_diff for a in results.agreement}
    assert diffs["featuredsl ONNX graph vs generated module"] < 1e-12
    assert diffs["sklearn vs generated module (shared columns)"] < 1e-9
    assert diffs["skl2onnx graph vs sklearn subset"] < 1e-4  # float32 graph


def test_report_has_every_row(results: bench_run.Results) -> None:
    report = bench_run.render(results)
    names = [
        *results.transform,
        *results.fit,
        *results.build,
        *(x.name for x in results.latency),
        *(a.name for a in results.agreement),
        *(t.name for t in bench_run.targets(results)),
    ]
    for name in names:
        assert f"| {name} |" in report or f"| (build) {name} |" in report, name
    for section in (
        "## Targets",
        "## Batch transform",
        "## Fit",
        "## Single-row latency",
        "## Agreement",
        "## Machine",
    ):
        assert section in report
    assert len(results.transform) == 7 and len(results.fit) == 4 and len(results.latency) == 7
    assert all(len(rounds) == 1 for rounds in results.transform.values())


def test_paired_ratios_are_taken_round_by_round() -> None:
    spread = bench_run.paired(np.array([1.0, 2.0, 4.0]), np.array([2.0, 4.0, 8.0]))
    assert (spread.median, spread.low, spread.high) == (0.5, 0.5, 0.5)
    times = bench_run.paired_rounds({"a": lambda: None, "b": lambda: None}, 3)
    assert {name: len(t) for name, t in times.items()} == {"a": 3, "b": 3}


def test_quick_command_line_settings() -> None:
    settings = bench_run.settings_from(bench_run.parse_args(["--quick"]))
    assert settings.rows == 2_000 and not settings.memory
    full = bench_run.settings_from(bench_run.parse_args(["--rows", "1000000", "--out", "x.md"]))
    assert full.rows == 1_000_000 and full.memory
