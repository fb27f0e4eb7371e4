"""featuredsl.runtime.sklearn: FeatureTransformer in scikit-learn's machinery, and end-to-end parity of
a bundled pipeline (onnxruntime on raw inputs) with the pipeline's own predict_proba.

Tolerances (docs/serving.md states the same):
  LogisticRegression, float64 features, double ONNX graph:   |p_onnx - p_sklearn| <= 1e-9
      (measured: 2.2e-16; the only difference is the order of the dot product's additions)
  RandomForestClassifier, float32 features, float ONNX graph: |p_onnx - p_sklearn| <= 1e-6
      on rows whose float32 features are identical (measured: 1.6e-7; every split decision is
      identical, leaf values are summed in float32); see the test for the other rows
"""

from __future__ import annotations

import pickle
import warnings
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pyarrow as pa
import pytest
from onnx import helper
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator
from test_bundle import CHURN_SPEC, churn_fitted, churn_frame, quiet

from featuredsl import load_spec
from featuredsl.artifact.spec import Spec
from featuredsl.errors import ArtifactError, DataError
from featuredsl.parity.build import build
from featuredsl.runtime.bundle import KEY_FEATURE_NAMES, KEY_FINGERPRINT, KEY_MODEL_SHA256
from featuredsl.runtime.sklearn import FeatureInputError, FeatureTransformer, model_to_onnx, to_onnx

LR_ATOL = 1e-9
TREE_ATOL = 1e-6

SMALL_SPEC = """spec small

input {
  x: float?
  n: int
  s: string?
}

feature x_z  = zscore(fill_null(x, median(x)))
feature n_x  = n * 2
feature s_oh = one_hot(fill_null(s, "none"), vocab(s))
"""


def small_frame(rows: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 3, rows)
    x[::7] = np.nan
    s = np.array(["a", "b", "c", None], dtype=object)[rng.integers(0, 4, rows)]
    return pd.DataFrame({"x": x, "n": rng.integers(0, 9, rows), "s": s})


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return churn_frame()


@pytest.fixture(scope="module")
def raw(frame: pd.DataFrame) -> pd.DataFrame:
    """The requests a client sends: the declared inputs only."""
    return frame.drop(columns=["churned"])


# ----------------------------------------------------------------------------- the transformer


def test_fit_transform_names_and_input_forms() -> None:
    df = small_frame()
    ft = FeatureTransformer(SMALL_SPEC)
    out = ft.fit_transform(df)
    assert out.dtype == np.float64 and out.shape == (40, len(ft.get_feature_names_out()))
    assert list(ft.get_feature_names_out())[:2] == ["x_z", "n_x"]
    assert list(ft.feature_names_in_) == ["x", "n", "s"] and ft.n_features_in_ == 3
    as_dict = {c: df[c].tolist() for c in df.columns}
    for form in (as_dict, pa.Table.from_pandas(df), df.assign(unused=1)):
        assert np.array_equal(ft.transform(form), out, equal_nan=True)


def test_float32_is_the_float64_features_rounded_once() -> None:
    df = small_frame()
    f64 = FeatureTransformer(SMALL_SPEC).fit(df).transform(df)
    f32 = FeatureTransformer(SMALL_SPEC, float32=True).fit(df).transform(df)
    assert f32.dtype == np.float32
    assert np.array_equal(f32, f64.astype(np.float32), equal_nan=True)


def test_spec_path_and_text_fit_the_same_features(frame: pd.DataFrame) -> None:
    by_path = FeatureTransformer(str(CHURN_SPEC)).fit(frame)
    by_text = FeatureTransformer(CHURN_SPEC.read_text("utf-8")).fit(frame)
    assert by_path.fingerprint_ == by_text.fingerprint_ == churn_fitted().fingerprint


def test_a_loaded_spec_is_accepted_and_survives_clone_and_pickle(frame: pd.DataFrame) -> None:
    # One way to pass a spec: a loaded Spec, a path (str or Path) or the text, everywhere.
    loaded = load_spec(CHURN_SPEC)
    ft = FeatureTransformer(loaded).fit(frame)
    assert ft.fingerprint_ == FeatureTransformer(CHURN_SPEC).fit(frame).fingerprint_
    assert ft.fingerprint_ == churn_fitted().fingerprint
    assert clone(ft).fit(frame).fingerprint_ == ft.fingerprint_
    again = pickle.loads(pickle.dumps(ft))
    np.testing.assert_array_equal(again.transform(frame), ft.transform(frame))
    assert "Spec('churn'" in repr(ft)


def test_a_spec_of_the_wrong_kind_says_what_is_accepted(frame: pd.DataFrame) -> None:
    with pytest.raises(
        TypeError, match=r"must be a Spec .* a path to a .fdsl file or the spec text, not int"
    ):
        FeatureTransformer(3).fit(frame)
    with pytest.raises(TypeError, match="already fitted; pass the unfitted spec"):
        FeatureTransformer(churn_fitted()).fit(frame)


def test_build_and_golden_take_a_loaded_spec(tmp_path: Any) -> None:
    from featuredsl.parity.golden import render

    data = small_frame()
    spec = Spec(SMALL_SPEC)
    report = build(spec, data, tmp_path / "out")
    assert (
        report.fitted.fingerprint == build(SMALL_SPEC, data, tmp_path / "out2").fitted.fingerprint
    )
    path = tmp_path / "small.fdsl"
    path.write_text(SMALL_SPEC, "utf-8")
    assert build(path, data, tmp_path / "out3").fitted.fingerprint == report.fitted.fingerprint
    csv = tmp_path / "small.csv"
    data.to_csv(csv, index=False)
    assert render(spec, csv)[0].fingerprint == render(path, csv)[0].fingerprint


def test_clone_and_get_params_keep_the_constructor_arguments() -> None:
    ft = FeatureTransformer(SMALL_SPEC, float32=True)
    assert ft.get_params() == {
        "spec": SMALL_SPEC,
        "float32": True,
        "timestamp_unit": None,
        "sparse": False,
        "events": None,
    }
    copy = clone(ft)
    assert copy.spec is SMALL_SPEC and copy.float32 is True
    assert not hasattr(copy, "fitted_spec_")


def test_bad_input_is_a_value_error_naming_the_column() -> None:
    ft = FeatureTransformer(SMALL_SPEC).fit(small_frame())
    with pytest.raises(FeatureInputError, match="no column names") as err:
        ft.transform(np.zeros((3, 3)))
    assert isinstance(err.value, ValueError) and isinstance(err.value, DataError)
    with pytest.raises(FeatureInputError, match="column 'n', row 1"):
        ft.transform(small_frame(3).assign(n=[1, None, 2]))
    with pytest.raises(FeatureInputError, match=r"missing column\(s\) 'x'"):
        ft.transform(small_frame().drop(columns=["x"]))


def test_unfitted_transform_raises_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        FeatureTransformer(SMALL_SPEC).transform(small_frame())


# The intent of scikit-learn's array-only checks, on DataFrames (see EXPECTED_FAILED_CHECKS).


def test_dataframe_versions_of_the_array_only_checks() -> None:
    df = small_frame(60)
    ft = FeatureTransformer(SMALL_SPEC)
    params = ft.get_params()
    snapshot = df.copy()
    assert ft.fit(df, np.zeros(60)) is ft  # fit returns self; y is accepted and ignored
    assert ft.get_params() == params  # fit does not change parameters
    pd.testing.assert_frame_equal(df, snapshot)  # nor its input
    first = ft.transform(df)
    state = dict(ft.__dict__)
    ft.transform(df)
    assert ft.__dict__.keys() == state.keys()  # transform does not change the estimator
    assert np.array_equal(
        FeatureTransformer(SMALL_SPEC).fit(df).transform(df), first, equal_nan=True
    )
    order = np.random.default_rng(1).permutation(60)  # sample order invariance
    assert np.array_equal(ft.transform(df.iloc[order]), first[order], equal_nan=True)
    subset = slice(10, 25)  # subset invariance
    assert np.array_equal(ft.transform(df.iloc[subset]), first[subset], equal_nan=True)
    assert np.array_equal(ft.transform(df.iloc[[3]]), first[[3]], equal_nan=True)  # one row
    restored = pickle.loads(pickle.dumps(ft))
    assert np.array_equal(restored.transform(df), first, equal_nan=True)
    readonly = df.copy()
    for column in ("x", "n"):
        values = readonly[column].to_numpy().copy()
        values.setflags(write=False)
        readonly[column] = values
    assert np.array_equal(ft.transform(readonly), first, equal_nan=True)
    pipe = Pipeline([("f", FeatureTransformer(SMALL_SPEC))])  # pipeline consistency
    assert np.array_equal(pipe.fit_transform(df), first, equal_nan=True)


def test_fitting_on_no_rows_is_a_clear_error() -> None:
    with pytest.raises(ValueError) as err:
        FeatureTransformer(SMALL_SPEC).fit(small_frame().iloc[:0])
    assert "Traceback" not in str(err.value)


# Checks of scikit-learn that cannot apply to a transformer reading named columns. Each one
# builds its own bare numpy array X; the DataFrame test above covers the intent of those that
# matter (fit returns self, idempotence, pickling, invariances, read-only input ...).
_BARE = "builds a bare numpy array; a spec reads its inputs by name (DataFrame, Table or dict)"
EXPECTED_FAILED_CHECKS = {
    "check_fit_score_takes_y": _BARE,
    "check_estimators_overwrite_params": _BARE,
    "check_dont_overwrite_parameters": _BARE,
    "check_estimators_fit_returns_self": _BARE,
    "check_readonly_memmap_input": _BARE,
    "check_n_features_in_after_fitting": _BARE,
    "check_positive_only_tag_during_fit": _BARE,
    "check_estimators_dtypes": _BARE,
    "check_complex_data": _BARE + " (complex columns are rejected by type anyway)",
    "check_dtype_object": _BARE,
    "check_estimators_empty_data_messages": _BARE + " (expects sklearn's own message wording)",
    "check_pipeline_consistency": _BARE,
    "check_estimators_pickle": _BARE,
    "check_f_contiguous_array_estimator": _BARE + " (memory layout has no meaning for columns)",
    "check_transformer_data_not_an_array": _BARE + " (wrapped in a non-array class)",
    "check_transformer_general": _BARE,
    "check_methods_sample_order_invariance": _BARE,
    "check_methods_subset_invariance": _BARE,
    "check_fit2d_1sample": _BARE + " (expects sklearn's own message wording)",
    "check_fit2d_1feature": _BARE + " (expects sklearn's own message wording)",
    "check_dict_unchanged": _BARE,
    "check_fit_idempotent": _BARE,
    "check_fit_check_is_fitted": _BARE,
    "check_n_features_in": _BARE,
    "check_fit2d_predict1d": _BARE,
}


def test_check_estimator_passes_every_check_that_applies() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(
            FeatureTransformer(SMALL_SPEC),
            expected_failed_checks=EXPECTED_FAILED_CHECKS,
            on_fail=None,
        )
    failed = [
        (r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"
    ]
    assert not failed, failed
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert {
        "check_estimator_repr",
        "check_no_attributes_set_in_init",
        "check_get_params_invariance",
        "check_set_params",
        "check_estimators_unfitted",
        "check_transformers_unfitted",
        "check_estimator_sparse_array",
        "check_estimator_sparse_matrix",
        "check_fit1d",
    } <= passed
    xfailed = {r["check_name"] for r in results if r["status"] == "xfail"}
    assert xfailed == set(EXPECTED_FAILED_CHECKS)  # none of them passes by accident


def test_grid_search_over_a_pipeline_on_a_dataframe(frame: pd.DataFrame) -> None:
    small = frame.iloc[:400]
    pipe = Pipeline(
        [
            ("features", FeatureTransformer(str(CHURN_SPEC))),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=200)),
        ]
    )
    search = GridSearchCV(pipe, {"model__C": [0.1, 1.0], "features__float32": [False, True]}, cv=2)
    search.fit(small, small["churned"])
    assert search.best_estimator_.named_steps["features"].fingerprint_
    assert search.predict_proba(small).shape == (400, 2)


# ----------------------------------------------------------------------------- end-to-end parity


@pytest.fixture(scope="module")
def logistic(frame: pd.DataFrame) -> Pipeline:
    pipe = Pipeline(
        [
            ("features", FeatureTransformer(str(CHURN_SPEC))),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=500)),
        ]
    )
    return pipe.fit(frame.iloc[:1500], frame["churned"].iloc[:1500])


@pytest.fixture(scope="module")
def forest(frame: pd.DataFrame) -> Pipeline:
    pipe = Pipeline(
        [
            ("features", FeatureTransformer(str(CHURN_SPEC), float32=True)),
            ("model", RandomForestClassifier(n_estimators=25, random_state=0)),
        ]
    )
    return pipe.fit(frame.iloc[:1500], frame["churned"].iloc[:1500])


@pytest.fixture(scope="module")
def forest_onnx(forest: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("forest") / "served.onnx"
    to_onnx(forest, path)
    return path


def _serve(path: Any, raw: pd.DataFrame) -> dict[str, np.ndarray]:
    from featuredsl.runtime.serving import Session

    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return Session(path).run(raw)


def test_logistic_regression_bundle_reproduces_predict_proba(
    logistic: Pipeline, frame: pd.DataFrame, raw: pd.DataFrame, tmp_path: Any
) -> None:
    to_onnx(logistic, tmp_path / "served.onnx")
    served = _serve(tmp_path / "served.onnx", raw)
    expected = logistic.predict_proba(frame)
    assert served["probabilities"].dtype == np.float64  # converted with a double input
    assert np.abs(served["probabilities"] - expected).max() <= LR_ATOL
    assert np.array_equal(served["label"], logistic.predict(frame))


def test_random_forest_bundle_reproduces_predict_proba(
    forest: Pipeline, forest_onnx: Any, frame: pd.DataFrame, raw: pd.DataFrame
) -> None:
    """The trees see exactly the float32 features they were trained on, so every split takes the
    same branch; only the float32 sum of leaf values differs.

    The exception is a feature whose ULP bound is not 0 (docs/parity.md): hour_sin = sin(2*pi*12/24)
    is 1.2e-16 in numpy and -0.0 in onnxruntime's batch kernel, and a tree can split between the
    two. On those rows the bundle still equals the model applied to the features it was served.
    """
    served = _serve(forest_onnx, raw)
    transformer, model = forest.named_steps["features"], forest.named_steps["model"]
    trained32 = transformer.transform(frame)
    served32 = served["features"].astype(np.float32)
    same = np.all(trained32 == served32, axis=1)
    diff = np.abs(served["probabilities"] - forest.predict_proba(frame)).max(axis=1)
    assert same.mean() > 0.9
    assert diff[same].max() <= TREE_ATOL
    # The rows where the features differ: only in bounded (transcendental) columns ...
    bounds = np.array(churn_fitted().manifest()["parity"]["ulp_bounds"])
    differing = np.flatnonzero(np.any(trained32 != served32, axis=0))
    assert all(bounds[j] > 0 for j in differing), [
        transformer.feature_names_out_[j] for j in differing
    ]
    # ... and there the bundle is the model on the served features.
    on_served = model.predict_proba(served32)
    assert np.abs(served["probabilities"] - on_served).max() <= TREE_ATOL


def test_tree_thresholds_are_the_largest_float32_not_above_sklearns(
    forest: Pipeline, forest_onnx: Any
) -> None:
    """skl2onnx stores each split threshold t (float64 in scikit-learn) as the largest float32
    w <= t, so for a float32 x: x <= t in scikit-learn exactly when x <= w in onnxruntime."""
    exported = onnx.load(str(forest_onnx))
    node = next(n for n in exported.graph.node if n.op_type == "TreeEnsembleClassifier")
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    trees = forest.named_steps["model"].estimators_
    checked = 0
    for tree_id, node_id, mode, w in zip(
        attrs["nodes_treeids"],
        attrs["nodes_nodeids"],
        attrs["nodes_modes"],
        attrs["nodes_values"],
        strict=True,
    ):
        if mode != b"BRANCH_LEQ":
            continue
        t = trees[tree_id].tree_.threshold[node_id]
        w32 = np.float32(w)
        assert float(w32) <= t < float(np.nextafter(w32, np.float32(np.inf))), (tree_id, node_id)
        checked += 1
    assert checked > 500


def test_to_onnx_records_what_the_model_was_trained_on(logistic: Pipeline) -> None:
    exported = model_to_onnx(logistic)
    props = {p.key: p.value for p in exported.metadata_props}
    assert props[KEY_FINGERPRINT] == logistic.named_steps["features"].fingerprint_
    assert KEY_FEATURE_NAMES in props
    merged = to_onnx(logistic)
    assert {p.key for p in merged.metadata_props} >= {KEY_FINGERPRINT, KEY_MODEL_SHA256}
    assert [o.name for o in merged.graph.output] == ["label", "probabilities", "features"]
    quiet(merged)


def test_to_onnx_needs_the_transformer_first(frame: pd.DataFrame) -> None:
    pipe = Pipeline([("model", LogisticRegression())])
    with pytest.raises(ArtifactError, match="put the FeatureTransformer first"):
        to_onnx(pipe)
    lonely = Pipeline([("features", FeatureTransformer(SMALL_SPEC))]).fit(small_frame())
    with pytest.raises(ArtifactError, match="no model after its FeatureTransformer"):
        to_onnx(lonely)


def test_the_worked_example_runs(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "end_to_end" / "run.py"
    spec = importlib.util.spec_from_file_location("end_to_end_run", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.run(tmp_path)
    out = capsys.readouterr().out
    assert "the transformer's fingerprint equals the build's: True" in out
    assert "rejected before onnxruntime: request: column 'event_ts'" in out
    assert "replay: 6 requests, 500 rows, clean" in out


def test_bare_integer_timestamps_need_the_transformers_timestamp_unit() -> None:
    spec = "spec t\ninput { t: timestamp }\nfeature h = hour(t)\n"
    seconds = {"t": np.array([1_609_462_800, 1_609_466_400])}  # 01:00 and 02:00 UTC
    with pytest.raises(DataError, match="bare integers"):
        FeatureTransformer(spec).fit(seconds)
    ft = FeatureTransformer(spec, timestamp_unit="s").fit(seconds)
    assert ft.transform(seconds)[:, 0].tolist() == [1.0, 2.0]
    assert clone(ft).timestamp_unit == "s"
