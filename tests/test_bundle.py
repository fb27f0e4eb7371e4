"""`featuredsl bundle`: one ONNX model from a feature build and a model graph, with every
mismatch between them reported by name."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from featuredsl.artifact.spec import FittedSpec, Spec, load_spec
from featuredsl.cli.main import main
from featuredsl.errors import ArtifactError
from featuredsl.ingest import read_table
from featuredsl.runtime.bundle import (
    KEY_BUNDLE,
    KEY_FEATURE_NAMES,
    KEY_FINGERPRINT,
    KEY_INPUTS,
    KEY_MODEL_SHA256,
    bundle,
    feature_graph_from_fitted,
    merge,
)

ROOT = Path(__file__).resolve().parents[1]
CHURN_SPEC = ROOT / "examples" / "churn" / "churn.fdsl"
CHURN_CSV = ROOT / "examples" / "churn" / "train.csv"


# ----------------------------------------------------------------------------- shared helpers
# (imported by test_serving, test_sklearn and test_shadow)


@functools.lru_cache(maxsize=1)
def churn_csv() -> Path:
    """examples/churn/train.csv, or the same data generated into a temporary file."""
    if CHURN_CSV.exists():
        return CHURN_CSV
    import tempfile

    maker = importlib.util.spec_from_file_location(
        "churn_make_data", CHURN_CSV.with_name("make_data.py")
    )
    assert maker is not None and maker.loader is not None
    module = importlib.util.module_from_spec(maker)
    maker.loader.exec_module(module)
    vars(module)["OUT"] = Path(tempfile.mkdtemp()) / "train.csv"
    module.main()
    return Path(module.OUT)


@functools.lru_cache(maxsize=1)
def churn_spec() -> Spec:
    return load_spec(CHURN_SPEC)


def churn_frame() -> Any:
    """The churn training data as a DataFrame: tz-aware timestamps, None for null strings."""
    return read_table(churn_csv(), churn_spec().inputs).to_pandas()


@functools.lru_cache(maxsize=1)
def churn_fitted() -> FittedSpec:
    return churn_spec().fit(read_table(churn_csv(), churn_spec().inputs))


def quiet(model: onnx.ModelProto | bytes | str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def linear_model(
    width: int,
    *,
    elem: int = TensorProto.FLOAT,
    input_name: str = "X",
    shape: list[Any] | None = None,
    opset: int = 21,
    props: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """A hand-written model `score = X @ w` with one [N, width] input."""
    dtype = np.float32 if elem == TensorProto.FLOAT else np.float64
    w = numpy_helper.from_array(np.arange(1, width + 1, dtype=dtype).reshape(width, 1), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", [input_name, "w"], ["score"])],
        "linear",
        [helper.make_tensor_value_info(input_name, elem, shape or [None, width])],
        [helper.make_tensor_value_info("score", elem, [None, 1])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    if props:
        helper.set_model_props(model, props)
    return model


def named_model(names: list[str], elems: list[int], ranks: list[int]) -> onnx.ModelProto:
    """A model with one input per name; output `total` = sum of its inputs as float64 [N, 1]."""
    nodes, inputs, parts = [], [], []
    for k, (name, elem, rank) in enumerate(zip(names, elems, ranks, strict=True)):
        inputs.append(helper.make_tensor_value_info(name, elem, [None] if rank == 1 else [None, 1]))
        cast = f"as_double_{k}"
        nodes.append(helper.make_node("Cast", [name], [cast], to=TensorProto.DOUBLE))
        if rank == 1:
            nodes.append(helper.make_node("Unsqueeze", [cast, "axis"], [f"col_{k}"]))
            cast = f"col_{k}"
        parts.append(cast)
    nodes.append(helper.make_node("Sum", parts, ["total"]))
    axis = numpy_helper.from_array(np.array([1], dtype=np.int64), "axis")
    graph = helper.make_graph(
        nodes,
        "named",
        inputs,
        [helper.make_tensor_value_info("total", TensorProto.DOUBLE, [None, 1])],
        [axis],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def raw_feed(rows: int = 200) -> dict[str, np.ndarray]:
    return churn_fitted().feed(read_table(churn_csv(), churn_spec().inputs).slice(0, rows))


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "churn"
    churn_fitted().save(out)
    return out


@pytest.fixture(scope="module")
def width() -> int:
    return len(churn_fitted().feature_names)


def write(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


# ----------------------------------------------------------------------------- the happy paths


def test_bundle_by_order_casts_once_and_passes_the_full_check(
    build_dir: Path, width: int, tmp_path: Path
) -> None:
    model = write(linear_model(width, props={"trained_by": "a test"}), tmp_path / "m.onnx")
    report = bundle(build_dir, model, tmp_path / "served.onnx", assume_order=True)
    merged = onnx.load(str(report.path))
    onnx.checker.check_model(merged, full_check=True)
    casts = [n for n in merged.graph.node if n.op_type == "Cast" and list(n.input) == ["features"]]
    assert len(casts) == 1 and casts[0].attribute[0].i == TensorProto.FLOAT

    feed = raw_feed()
    score, features = quiet(merged).run(["score", "features"], feed)
    expected = features.astype(np.float32) @ np.arange(1, width + 1, dtype=np.float32)
    np.testing.assert_allclose(score[:, 0], expected, rtol=1e-6)
    # The features output is the feature graph's own output, bit for bit.
    assert np.array_equal(features, quiet(churn_fitted().onnx_model()).run(["features"], feed)[0])


def test_bundle_metadata_carries_fingerprint_names_schema_and_model(
    build_dir: Path, width: int, tmp_path: Path
) -> None:
    path = write(linear_model(width, props={"trained_by": "a test"}), tmp_path / "m.onnx")
    report = bundle(build_dir, path, tmp_path / "served.onnx", assume_order=True)
    props = {p.key: p.value for p in onnx.load(str(report.path)).metadata_props}
    fitted = churn_fitted()
    assert props[KEY_FINGERPRINT] == fitted.fingerprint
    assert json.loads(props[KEY_FEATURE_NAMES]) == list(fitted.feature_names)
    assert props[KEY_MODEL_SHA256] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert props["trained_by"] == "a test"  # the model's own metadata travels too
    assert [i["name"] for i in json.loads(props[KEY_INPUTS])] == [
        c.name for c in fitted.program.inputs
    ]
    assert json.loads(props[KEY_BUNDLE])["by"] == "assumed order"


def test_bundle_by_name_gathers_each_column_with_its_dtype_and_rank(
    build_dir: Path, tmp_path: Path
) -> None:
    names = list(churn_fitted().feature_names)
    order = names[::-1]  # the model lists its inputs in another order: names decide
    elems = [TensorProto.FLOAT if k % 2 else TensorProto.DOUBLE for k in range(len(order))]
    ranks = [1 if k % 3 == 0 else 2 for k in range(len(order))]
    path = write(named_model(order, elems, ranks), tmp_path / "named.onnx")
    merged = onnx.load(str(bundle(build_dir, path, tmp_path / "served.onnx").path))
    onnx.checker.check_model(merged, full_check=True)
    total, features = quiet(merged).run(["total", "features"], raw_feed())
    expected = np.zeros(len(features))
    for name, elem in zip(order, elems, strict=True):
        column = features[:, names.index(name)]
        expected += (
            column.astype(np.float32).astype(np.float64) if elem == TensorProto.FLOAT else column
        )
    np.testing.assert_allclose(total[:, 0], expected, rtol=1e-12)


def test_model_names_never_collide_with_the_feature_graph(tmp_path: Path, width: int) -> None:
    """A model whose internal names equal the feature graph's still merges (prefixing)."""
    graph = feature_graph_from_fitted(churn_fitted())
    taken = [n.output[0] for n in graph.model.graph.node][:3]
    model = linear_model(width, input_name=taken[0])
    model.graph.node[0].output[0] = taken[1]
    model.graph.node.append(helper.make_node("Identity", [taken[1]], ["score"]))
    model.graph.initializer[0].name = taken[2]
    model.graph.node[0].input[1] = taken[2]
    merged = merge(graph, model, assume_order=True)
    assert quiet(merged).run(["score"], raw_feed(5))[0].shape == (5, 1)


def test_opsets_are_unified_and_deduplicated(width: int) -> None:
    """skl2onnx lists the default domain twice and older models use older opsets."""
    model = linear_model(width, opset=13)
    model.opset_import.append(helper.make_opsetid("", 13))
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 1))
    merged = merge(feature_graph_from_fitted(churn_fitted()), model, assume_order=True)
    versions = [(o.domain, o.version) for o in merged.opset_import]
    assert sorted(versions) == [("", 21), ("ai.onnx.ml", 3), ("com.microsoft", 1)]
    onnx.checker.check_model(merged, full_check=True)


def test_a_newer_model_opset_converts_the_feature_graph_without_changing_it(width: int) -> None:
    graph = feature_graph_from_fitted(churn_fitted())
    merged = merge(graph, linear_model(width, opset=23), assume_order=True)
    assert ("", 23) in [(o.domain, o.version) for o in merged.opset_import]
    feed = raw_feed()
    before = quiet(graph.model).run(["features"], feed)[0]
    assert np.array_equal(quiet(merged).run(["features"], feed)[0], before)


def test_cli_bundle_prints_the_wiring(
    build_dir: Path, width: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(linear_model(width, elem=TensorProto.DOUBLE), tmp_path / "m.onnx")
    code = run_cli(
        ["bundle", str(build_dir), str(path), "--out", str(tmp_path / "b.onnx"), "--assume-order"]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert "all 15 features in build order (float64)" in out and "cast" not in out


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        main(argv)
    return int(done.value.code or 0)


# ----------------------------------------------------------------------------- mismatches


def _stamp(model: onnx.ModelProto, key: str, value: str) -> onnx.ModelProto:
    helper.set_model_props(model, {key: value})
    return model


MISMATCHES: list[tuple[str, Any, bool, list[str]]] = [
    ("width", lambda w: linear_model(w + 1), True, ["takes 16 features", "the build has 15"]),
    (
        "dtype",
        lambda w: linear_model(w, elem=TensorProto.INT64),
        True,
        ["'X' is int64", "float64 or float32"],
    ),
    ("unknown width", lambda w: linear_model(w, shape=[None, "F"]), True, ["no fixed width"]),
    ("rank", lambda w: linear_model(w, shape=[None, w, 1]), True, ["[N, 15, 1]", "needs [N, 15]"]),
    (
        "one tensor without --by-order",
        lambda w: linear_model(w),
        False,
        ["one tensor 'X' of width 15", "--by-order", "--assume-order"],
    ),
    (
        "names",
        lambda w: named_model(["age_z", "not_a_feature"], [TensorProto.FLOAT] * 2, [2, 2]),
        False,
        ["'not_a_feature' are not features", "'age_missing'", "have no model input"],
    ),
    (
        "two inputs by order",
        lambda w: named_model(["a", "b"], [TensorProto.FLOAT] * 2, [2, 2]),
        True,
        ["one input tensor of width 15", "it has 2: 'a', 'b'"],
    ),
    (
        "fingerprint of a paired model",
        lambda w: _stamp(linear_model(w), KEY_FINGERPRINT, "0" * 64),
        True,
        ["trained on features with fingerprint 0000000000000000", "retrain"],
    ),
    (
        "feature order of a paired model",
        lambda w: _stamp(
            linear_model(w),
            KEY_FEATURE_NAMES,
            json.dumps(list(reversed(churn_fitted().feature_names))),
        ),
        True,
        ["another order", "column 0 is 'hour_sin' in the model and 'age_z'"],
    ),
    (
        "already a bundle",
        lambda w: _stamp(linear_model(w), KEY_BUNDLE, "{}"),
        True,
        ["already a featuredsl bundle"],
    ),
]


@pytest.mark.parametrize(
    ("what", "make", "by_order", "needles"), MISMATCHES, ids=[m[0] for m in MISMATCHES]
)
def test_mismatch_is_a_clear_artifact_error(
    build_dir: Path,
    width: int,
    tmp_path: Path,
    what: str,
    make: Any,
    by_order: bool,
    needles: list[str],
) -> None:
    path = write(make(width), tmp_path / "m.onnx")
    with pytest.raises(ArtifactError) as err:
        bundle(build_dir, path, tmp_path / "out.onnx", by_order=by_order)
    message = str(err.value)
    assert message.startswith(str(path)), message
    for needle in needles:
        assert needle in message, message
    assert not (tmp_path / "out.onnx").exists()


def test_a_plain_model_by_order_needs_the_explicit_flag(
    build_dir: Path, width: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A model that records nothing could come from any build of the same width.
    path = write(linear_model(width), tmp_path / "m.onnx")
    with pytest.raises(ArtifactError) as err:
        bundle(build_dir, path, tmp_path / "out.onnx", by_order=True)
    message = str(err.value)
    assert "records no features it was trained on" in message
    assert "to_onnx" in message and "--assume-order" in message
    assert "column 0 <- age_z; column 1 <- age_missing" in message
    assert not (tmp_path / "out.onnx").exists()
    code = run_cli(
        ["bundle", str(build_dir), str(path), "--out", str(tmp_path / "b.onnx"), "--assume-order"]
    )
    _, err_text = capsys.readouterr()
    assert code == 0
    assert "ASSUMED" in err_text and "column 14 <- hour_sin" in err_text
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "b.onnx")).metadata_props}
    recorded = json.loads(props[KEY_BUNDLE])
    assert recorded["by"] == "assumed order" and recorded["checked"] is False
    assert recorded["mapping"][:2] == ["column 0 <- age_z", "column 1 <- age_missing"]
    # A model that records its features is checked by order, with no flag and no warning.
    names = json.dumps(list(churn_fitted().feature_names))
    stamped = write(_stamp(linear_model(width), KEY_FEATURE_NAMES, names), tmp_path / "s.onnx")
    assert bundle(build_dir, stamped, tmp_path / "s_b.onnx", by_order=True).by == "order"


def test_a_zipmap_output_is_refused_at_bundle_time(
    build_dir: Path, width: int, tmp_path: Path
) -> None:
    model = linear_model(width)
    model.graph.node.append(helper.make_node("SequenceConstruct", ["score"], ["scores"]))
    model.graph.output.append(
        helper.make_tensor_sequence_value_info("scores", TensorProto.FLOAT, None)
    )
    path = write(model, tmp_path / "m.onnx")
    with pytest.raises(ArtifactError) as err:
        bundle(build_dir, path, tmp_path / "b.onnx", assume_order=True)
    assert "'scores' are a sequence of maps (skl2onnx's ZipMap)" in str(err.value)
    assert "{'zipmap': False}" in str(err.value)
    assert not (tmp_path / "b.onnx").exists()


def test_output_named_like_the_features_is_refused(width: int) -> None:
    model = linear_model(width)
    model.graph.output[0].name = "features"
    model.graph.node[0].output[0] = "features"
    with pytest.raises(ArtifactError, match="'features' have the name of a feature-graph"):
        merge(feature_graph_from_fitted(churn_fitted()), model, assume_order=True, where="m.onnx")


def test_a_file_that_is_not_onnx_is_named(build_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x00not a model")
    with pytest.raises(ArtifactError, match=r"model\.onnx: not a readable ONNX model"):
        bundle(build_dir, path, tmp_path / "out.onnx")


def test_cli_mismatch_exits_1_with_a_message(
    build_dir: Path, width: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(linear_model(width + 2), tmp_path / "m.onnx")
    code = run_cli(
        ["bundle", str(build_dir), str(path), "--out", str(tmp_path / "b.onnx"), "--assume-order"]
    )
    _, err = capsys.readouterr()
    assert code == 1
    assert "takes 17 features; the build has 15" in err and "Traceback" not in err


def test_bundles_are_deterministic(build_dir: Path, width: int, tmp_path: Path) -> None:
    path = write(linear_model(width), tmp_path / "m.onnx")
    first = bundle(build_dir, path, tmp_path / "a.onnx", assume_order=True).path.read_bytes()
    second = bundle(build_dir, path, tmp_path / "b.onnx", assume_order=True).path.read_bytes()
    assert first == second
