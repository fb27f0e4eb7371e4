"""The churn example's artifacts read like code a person wrote (issue 14's bar)."""

from __future__ import annotations

from pathlib import Path

import pytest

from featuredsl.artifact.spec import load_spec
from featuredsl.compiler.libm import ROUTINE_DOMAIN

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def churn():
    return load_spec(ROOT / "examples" / "churn" / "churn.fdsl").fit(
        ROOT / "examples" / "churn" / "train.csv"
    )


def test_the_transform_is_short_with_one_labelled_block_per_feature(churn) -> None:
    source = churn.numpy_source
    transform = source[source.index("def transform(") :]
    assert len(transform.splitlines()) <= 120
    labels = [line.strip() for line in transform.splitlines() if line.strip().startswith("# ")]
    assert labels == [f"# feature {f.name}" for f in churn.program.features]
    assert "def _log1p(x):" in source and "Goldberg" in source  # a named helper citing its method
    assert "_log1p(" in transform and "np.greater_equal" not in transform


def test_each_vocabulary_is_written_once(churn) -> None:
    assert churn.numpy_source.count("'DE'") == 1
    graph = churn.onnx_model()
    strings = [
        s for node in graph.graph.node for a in node.attribute for s in a.strings if s == b"DE"
    ]
    assert len(strings) == 1
    assert not any(b"DE" in t.string_data for t in graph.graph.initializer)


def test_the_graph_is_small_names_its_features_and_cites_the_spec(churn) -> None:
    model = churn.onnx_model()
    assert len(model.graph.node) <= 60
    assert {f.name for f in model.functions} == {"log", "log1p"}
    assert all(f.domain == ROUTINE_DOMAIN for f in model.functions)
    hour = [n for n in model.graph.node if n.output[0].startswith("hour_sin.")]
    assert hour and all("feature hour_sin, spec line" in n.doc_string for n in hour)
    assert any("sin(2 * pi * hour(event_ts) / 24)" in n.doc_string for n in hour)
