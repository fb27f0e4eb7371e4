"""`featuredsl build` and `featuredsl parity` from the command line: exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SPEC = """spec small
input { age: float?, plan: string?, clicks: int, t: timestamp }
let age_f = fill_null(age, median(age))
feature age_z = zscore(age_f)
feature bucket = bucketize(age_f, quantiles(age_f, 4))
feature plan_oh = one_hot(fill_null(plan, "none"), vocab(plan))
feature clicks_log = log1p(clicks)
feature hour = hour(t)
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "featuredsl.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = 300
    frame = pd.DataFrame(
        {
            "age": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(40, 10, rows)),
            "plan": pd.array(
                np.where(rng.random(rows) < 0.2, None, rng.choice(["a", "b", "c"], rows)),
                dtype=object,
            ),
            "clicks": rng.poisson(3, rows),
            "t": pd.to_datetime(rng.integers(1.6e9, 1.7e9, rows), unit="s", utc=True),
        }
    )
    frame.to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "small.fdsl").write_text(SPEC)
    return tmp_path


def test_build_then_parity(project: Path) -> None:
    out = project / "build"
    built = run(
        "build",
        str(project / "small.fdsl"),
        "--data",
        str(project / "train.csv"),
        "--out",
        str(out),
        "--float32",
    )
    assert built.returncode == 0, built.stderr
    assert "parity: numpy == onnx" in built.stdout
    for name in ("features_train.py", "features.onnx", "features.f32.onnx", "manifest.json"):
        assert (out / name).exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["feature_names"][:2] == ["age_z", "bucket"]
    checked = run(
        "parity", str(out), "--data", str(project / "train.csv"), "--json", str(project / "p.json")
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads((project / "p.json").read_text())
    assert report["ok"] and report["rows"]["data"] == 300
    assert all(row["flips"] == 0 for row in report["float32_precision"])


def test_parity_fails_on_a_graph_from_another_build(project: Path) -> None:
    first, second = project / "one", project / "two"
    assert (
        run(
            "build",
            str(project / "small.fdsl"),
            "--data",
            str(project / "train.csv"),
            "--out",
            str(first),
        ).returncode
        == 0
    )
    other = SPEC.replace("quantiles(age_f, 4)", "quantiles(age_f, 3)")
    (project / "other.fdsl").write_text(other)
    assert (
        run(
            "build",
            str(project / "other.fdsl"),
            "--data",
            str(project / "train.csv"),
            "--out",
            str(second),
        ).returncode
        == 0
    )
    (first / "features.onnx").write_bytes((second / "features.onnx").read_bytes())
    result = run("parity", str(first))
    assert result.returncode == 1
    assert "fingerprint" in result.stderr and "Traceback" not in result.stderr


def test_bad_data_is_a_message_not_a_traceback(project: Path) -> None:
    (project / "bad.csv").write_text("age,plan,clicks,t\n1.0,a,3,2024-01-01T00:00:00\n")
    result = run(
        "build",
        str(project / "small.fdsl"),
        "--data",
        str(project / "bad.csv"),
        "--out",
        str(project / "b"),
    )
    assert result.returncode == 1
    assert "'t'" in result.stderr and "Traceback" not in result.stderr


def test_missing_data_file(project: Path) -> None:
    result = run(
        "build",
        str(project / "small.fdsl"),
        "--data",
        str(project / "nope.csv"),
        "--out",
        str(project / "b"),
    )
    assert result.returncode != 0
    assert "nope.csv" in result.stderr and "Traceback" not in result.stderr
