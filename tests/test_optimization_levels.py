"""Parity runs the graph with onnxruntime's optimizations disabled and all enabled, and fails on
any difference: an optimizer rewrite that changes a rounding is caught by the runner and by the
fuzzer. The rewrite used here is real: DivMulFusion (ORT_ENABLE_BASIC and up) computes
(1 / x) * 3.0 as 3.0 / x, one rounding fewer, unless the ONNX backend keeps the 1.0 out of its
reach (backends/onnx/graph.py, _fusable_constant)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from featuredsl.artifact.spec import Spec
from featuredsl.backends.onnx import graph
from featuredsl.compiler.types import DType
from featuredsl.parity import fuzz
from featuredsl.parity.runner import run_parity

SPEC = "spec fused\n\ninput {\n  x: float\n}\n\nfeature f = (1 / x) * 3.0\n"
X = np.array([5.0, 3.0, 7.0, 0.1, -7.0])


def unguard_reciprocal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend as it was: `1 / x` emitted with a plain constant 1.0 (until the test ends)."""
    original = graph._fusable_constant
    monkeypatch.setattr(
        graph,
        "_fusable_constant",
        lambda node, index, neutral: node.op != "div" and original(node, index, neutral),
    )


def _case() -> fuzz.FuzzCase:
    columns = (fuzz.Column("x", DType.FLOAT, False),)
    return fuzz.FuzzCase(SPEC, columns, {"x": X}, {"x": X})


def test_the_guarded_graph_passes_everywhere(tmp_path: Path) -> None:
    fuzz.run_case(_case())
    Spec(SPEC).fit({"x": X}).save(tmp_path / "build")
    report = run_parity(tmp_path / "build", data_feed={"x": X})
    assert report.ok, report.format()
    assert set(report.optimizations) == {"disabled"}
    assert report.to_dict()["numpy_vs_onnx_by_optimization"]["disabled"][0]["violations"] == 0


def test_the_fuzzer_fails_a_fusion_and_names_the_level(monkeypatch: pytest.MonkeyPatch) -> None:
    unguard_reciprocal(monkeypatch)
    with pytest.raises(fuzz.ParityViolation) as caught:
        fuzz.run_case(_case())
    assert "(onnxruntime optimization all)" in str(caught.value)
    assert "0.6000000000000001" in str(caught.value)


def test_the_runner_reports_each_level(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    unguard_reciprocal(monkeypatch)
    Spec(SPEC).fit({"x": X}).save(tmp_path / "build")
    report = run_parity(tmp_path / "build", data_feed={"x": X})
    assert not report.ok
    assert report.comparison.violations > 0  # onnxruntime's default level fuses
    assert report.optimizations["disabled"].ok  # without optimizations the graph is right
