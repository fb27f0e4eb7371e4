"""Both backends implement every primitive, every catalogue op agrees across them on edge cases,
builds are deterministic, and no spec text can inject code into the generated module."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import quiet_session, random_feed

from featuredsl.artifact.conformance.edge_cases import edge_case_feed
from featuredsl.artifact.load import load
from featuredsl.artifact.spec import Spec
from featuredsl.backends.numpy import codegen as numpy_backend
from featuredsl.backends.onnx import graph as onnx_backend
from featuredsl.compiler import registry
from featuredsl.compiler.boundaries import constant_pool, feature_bounds
from featuredsl.compiler.op import Op
from featuredsl.compiler.primitives import Prim
from featuredsl.errors import ArtifactError
from featuredsl.parity.compare import compare

EXAMPLE_INPUTS = "\n".join(
    f"  {name}: {dtype}{'?' if nullable else ''}"
    for name, dtype, nullable in registry.EXAMPLE_INPUTS
)


def example_spec(expression: str) -> str:
    return f"spec example\ninput {{\n{EXAMPLE_INPUTS}\n}}\nfeature f = {expression}\n"


@pytest.mark.parametrize("primitive", list(Prim))
def test_every_primitive_has_an_emitter_in_both_backends(primitive: Prim) -> None:
    for backend in (numpy_backend, onnx_backend):
        if primitive == "input":
            continue  # inputs are bound by the module/graph layout, not an emitter
        assert primitive in backend.EMITTERS or primitive in backend.UNSUPPORTED, (
            backend.__name__,
            primitive,
        )


def test_unsupported_entries_give_reasons() -> None:
    for backend in (numpy_backend, onnx_backend):
        assert set(backend.UNSUPPORTED) <= {"fitted"}, (
            "every primitive is served; fitted nodes are folded away"
        )
        assert all(reason for reason in backend.UNSUPPORTED.values())


def _edge_feed(fitted) -> dict[str, np.ndarray]:
    inputs = [
        {"name": c.name, "dtype": str(c.dtype), "nullable": c.nullable}
        for c in fitted.program.inputs
    ]
    return edge_case_feed(inputs, constant_pool(fitted.program))


def assert_parity(fitted, feed) -> None:
    expected = fitted.transform_feed(feed)
    session = quiet_session(fitted.onnx_model().SerializeToString())
    actual = session.run(["features"], feed)[0]
    result = compare(
        fitted.feature_names, expected, actual, feature_bounds(fitted.program.features)
    )
    bad = {c.name: (c.violations, c.worst_rows) for c in result.columns if c.violations}
    assert result.ok, bad


@pytest.mark.parametrize(
    "op", registry.OPS, ids=lambda op: f"{op.category}-{op.name}-{len(op.params)}"
)
def test_catalogue_example_agrees_on_edge_cases(op: Op) -> None:
    spec = Spec(example_spec(op.example), f"<{op.name} example>")
    training = random_feed(spec.inputs, 300, seed=1)
    fitted = spec.fit_feed(training)
    assert_parity(fitted, training)
    assert_parity(fitted, _edge_feed(fitted))


CHURN = """spec churn
input { age: float?, plan: string?, clicks: int, views: int, t: timestamp }
let age_f = fill_null(age, median(age))
feature age_z = zscore(age_f)
feature bucket = bucketize(age_f, quantiles(age_f, 5))
feature plan_oh = one_hot(fill_null(plan, "none"), vocab(plan, top=3))
feature ctr = clicks / max(views, 1)
feature hour_sin = sin(2 * pi * hour(t) / 24)
"""


def test_build_twice_gives_identical_bytes(tmp_path) -> None:
    spec = Spec(CHURN)
    feed = random_feed(spec.inputs, 500, seed=3)
    for name in ("a", "b"):
        Spec(CHURN).fit_feed(feed).save(tmp_path / name, float32=True)
    for file in ("features_train.py", "features.onnx", "features.f32.onnx", "manifest.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


def test_loaded_artifacts_agree_and_check_fingerprints(tmp_path) -> None:
    spec = Spec(CHURN)
    feed = random_feed(spec.inputs, 200, seed=4)
    fitted = spec.fit_feed(feed)
    fitted.save(tmp_path)
    artifacts = load(tmp_path)
    assert artifacts.feature_names == fitted.feature_names
    assert np.array_equal(
        artifacts.transform_feed(feed), fitted.transform_feed(feed), equal_nan=True
    )
    manifest = (tmp_path / "manifest.json").read_text()
    (tmp_path / "manifest.json").write_text(manifest.replace(fitted.fingerprint, "0" * 64))
    with pytest.raises(ArtifactError, match="fingerprint"):
        load(tmp_path)


EVIL = "x\"); import os; os.system(\"echo pwned\") #\n''' \\ {{ }}"


def test_string_literals_cannot_inject_code(tmp_path) -> None:
    escaped = EVIL.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    source = f'spec evil\ninput {{ s: string }}\nfeature hit = s == "{escaped}"\nfeature h = hash_bucket(concat(s, "{escaped}"), 97)\n'
    spec = Spec(source)
    feed = {"s": np.array([EVIL, "x", ""], dtype=object)}
    fitted = spec.fit(feed)
    assert "os.system" not in fitted.numpy_source.replace(repr(EVIL), "")
    out = fitted.transform_feed(feed)
    assert out[:, 0].tolist() == [1.0, 0.0, 0.0]
    assert_parity(fitted, feed)


def test_generated_module_needs_numpy_only() -> None:
    """numpy and the standard library (unicodedata checks the NFC text rule), nothing else."""
    fitted = Spec(CHURN).fit_feed(random_feed(Spec(CHURN).inputs, 100))
    imports = [
        line for line in fitted.numpy_source.splitlines() if line.startswith(("import ", "from "))
    ]
    assert sorted(imports) == [
        "from __future__ import annotations",
        "import numpy as np",
        "import unicodedata",
    ]


def test_float32_output_matches_training_module_float32() -> None:
    spec = Spec(CHURN)
    feed = random_feed(spec.inputs, 300, seed=5)
    fitted = spec.fit_feed(feed)
    edge = _edge_feed(fitted)
    session = quiet_session(fitted.onnx_model(float32=True).SerializeToString())
    served = session.run(["features"], edge)[0]
    namespace: dict = {}
    exec(compile(fitted.numpy_source, "m", "exec"), namespace)
    trained = namespace["transform"](edge, float32=True)
    assert served.dtype == np.float32 and trained.dtype == np.float32
    assert np.array_equal(
        served.view(np.int32) == trained.view(np.int32), np.ones_like(served, bool)
    ) or np.array_equal(served, trained, equal_nan=True)


def test_vocabulary_values_from_data_cannot_inject_code(tmp_path) -> None:
    spec = Spec(
        "spec v\ninput { s: string }\nfeature s_oh = one_hot(s, vocab(s))\nfeature s_idx = lookup(s, vocab(s))\n"
    )
    values = [EVIL, "a'b", 'c"d', "line\nbreak", "\\", "plain"]
    feed = {"s": np.array(values * 3, dtype=object)}
    fitted = spec.fit(feed)
    fitted.save(tmp_path)
    artifacts = load(tmp_path)
    assert f"s_oh[{EVIL}]" in artifacts.module.FEATURE_NAMES
    out = artifacts.transform_feed(feed)
    one_hot = out[:, : len(values) + 1]
    assert (one_hot.sum(axis=1) == 1).all()
    assert_parity(fitted, feed)


def test_a_feed_passed_back_in_keeps_its_null_masks() -> None:
    spec = Spec(
        'spec s\ninput { plan: string? }\nfeature o = one_hot(fill_null(plan, "none"), vocab(plan))\n'
    )
    feed = {
        "plan": np.array(["a", "", "b"], dtype=object),
        "plan.is_null": np.array([False, True, False]),
    }
    fitted = spec.fit(feed)
    assert fitted.feature_names == (
        "o[a]",
        "o[b]",
        "o[<oov>]",
    )  # "" under the mask is not a category
    assert fitted.transform(feed)[1].tolist() == [0.0, 0.0, 1.0]


def test_a_mask_for_a_column_without_one_is_refused() -> None:
    spec = Spec("spec s\ninput { x: float? }\nfeature f = fill_null(x, 0)\n")
    with pytest.raises(Exception, match="floats use NaN"):
        spec.fit({"x": np.array([1.0]), "x.is_null": np.array([True])})
