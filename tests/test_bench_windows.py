"""The window benchmark's pandas contenders compute what the backfill computes (small sizes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

pytest.importorskip("pandas")

from bench import bench_windows  # noqa: E402


def test_pandas_contenders_agree_with_the_backfill() -> None:
    data = bench_windows.Data(labels=400, events=6_000, entities=30, seed=3)
    ours = bench_windows.featuredsl_backfill(data)
    assert len(ours) == 16 and ours["count_30d"].sum() > 0 and (ours["count_1h"] == 0).any()
    for name, contender in bench_windows.CONTENDERS.items():
        assert bench_windows.disagreements(ours, contender(data)) == [], name


def test_disagreements_name_the_aggregate() -> None:
    ours = {"count_1h": np.array([1, 2]), "sum_1h": np.array([1.0, np.nan])}
    theirs = {"count_1h": np.array([1.0, 3.0]), "sum_1h": np.array([1.0 + 1e-12, np.nan])}
    assert bench_windows.disagreements(ours, theirs) == ["count_1h"]


def test_report_has_every_contender() -> None:
    data = bench_windows.Data(labels=10, events=100, entities=5, seed=0)
    args = argparse.Namespace(labels=10, events=100, entities=5, seed=0, rounds=2)
    times = {name: np.array([1.0, 2.0]) for name in bench_windows.CONTENDERS}
    agreement = {name: [] for name in bench_windows.CONTENDERS if name != "featuredsl backfill"}
    text = bench_windows.report(args, data, times, agreement, {}, 60.0)
    for name in bench_windows.CONTENDERS:
        assert f"| {name} | 1.50 [1.25, 1.75] |" in text
    assert "featuredsl / fastest pandas (per round): **1.00 [1.00, 1.00]**" in text
