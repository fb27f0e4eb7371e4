"""scikit-learn integration: a transformer that computes a spec's features, and the export of a
fitted pipeline to one ONNX model (features + model) for serving.

    pipe = Pipeline([("features", FeatureTransformer("churn.fdsl")), ("model", LogisticRegression())])
    pipe.fit(frame, frame["churned"])
    featuredsl.runtime.sklearn.to_onnx(pipe, "served.onnx")

Needs the optional extra `featuredsl[sklearn]` (scikit-learn; skl2onnx for the export). The
core package never imports this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

try:
    from sklearn.base import BaseEstimator, TransformerMixin, is_classifier
    from sklearn.utils.validation import check_is_fitted
except ImportError as err:  # pragma: no cover - depends on the installation
    raise ImportError(
        "featuredsl.runtime.sklearn needs scikit-learn: pip install 'featuredsl[sklearn]'"
    ) from err

import onnx

from featuredsl.artifact.transform import sparse_features
from featuredsl.errors import ArtifactError, DataError, FeatureDSLError
from featuredsl.runtime.bundle import (
    KEY_FEATURE_NAMES,
    KEY_FINGERPRINT,
    feature_graph_from_fitted,
    merge,
    serialize,
)

__all__ = ["FeatureInputError", "FeatureTransformer", "model_to_onnx", "to_onnx"]

T = TypeVar("T")

# Default-domain and ML opsets the feature graph uses: the model is exported at the same ones.
TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}


def _spec_from_param(spec: Any) -> Any:
    """`spec` is a loaded Spec, a path to a .fdsl file or the spec text itself."""
    from featuredsl.artifact.spec import as_spec

    return as_spec(spec, "FeatureTransformer(spec)")


class FeatureInputError(DataError, ValueError):
    """Bad X for a FeatureTransformer: a DataError that is also the ValueError scikit-learn's
    tools (GridSearchCV, the estimator checks) expect for bad input."""


def _named_columns(X: Any, where: str) -> Any:
    """Refuse what has no column names: a spec reads its inputs by name; and paths: X is
    data (pipelines get served), files are read explicitly."""
    if isinstance(X, (str, bytes, os.PathLike)):
        raise FeatureInputError(
            f"{where}: X is a {type(X).__name__}, not a table; FeatureTransformer never reads "
            "files: pass featuredsl.ingest.read_table(path), a pandas DataFrame, a pyarrow "
            "Table or a dict of columns"
        )
    sparse = sys.modules.get("scipy.sparse")
    if sparse is not None and sparse.issparse(X):
        raise FeatureInputError(
            f"{where}: sparse input is not supported; FeatureTransformer reads the spec's "
            "inputs by name from a pandas DataFrame, a pyarrow Table or a dict of columns"
        )
    if isinstance(X, np.ndarray) or (hasattr(X, "__array__") and not _tabular(X)):
        raise FeatureInputError(
            f"{where}: a bare {type(X).__name__} has no column names; FeatureTransformer "
            "reads the spec's inputs by name: pass a pandas DataFrame, a pyarrow Table or a "
            "dict of columns"
        )
    return X


def _tabular(X: Any) -> bool:
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(X, pd.DataFrame):
        return True
    pl = sys.modules.get("polars")
    if pl is not None and isinstance(X, pl.DataFrame):
        return True
    return isinstance(X, (pa.Table, pa.RecordBatch))


def _reading(read: Callable[[Any], T], X: Any, where: str) -> T:
    """read(X), with every problem of X reported as a FeatureInputError."""
    try:
        return read(_named_columns(X, where))
    except FeatureInputError:
        raise
    except FeatureDSLError as err:  # bad data, or statistics that cannot be fitted on it
        raise FeatureInputError(str(err)) from None


class FeatureTransformer(TransformerMixin, BaseEstimator):
    """A scikit-learn transformer computing a featuredsl spec's features with its numpy module.

    Args:
        spec: a loaded spec (`featuredsl.load_spec(path)`), a path to a .fdsl file, or the
            spec text.
        float32: emit the features rounded once to float32 (what a bundle hands a float32
            model), so that trees trained on them take the same decisions in serving.
        timestamp_unit: the unit of bare integers in timestamp columns ("s", "ms", "us", "ns");
            without it they are refused (tz-aware datetimes carry their own unit).
        sparse: emit a scipy.sparse CSR matrix (same values; for wide one-hot and hashed
            features, computed in bounded row slices so the dense matrix never exists).
        events: for a spec with window aggregates, each event source's table by name (any
            form `Spec.fit` takes): fit and transform backfill every window for the rows of `X`
            at their prediction times (docs/windows.md).

    Input `X` (fit and transform): a pandas DataFrame, a pyarrow Table or a dict of 1-D columns
    with at least the spec's input columns (other columns are ignored), typed as the spec
    declares them (timestamps tz-aware, or integers in `timestamp_unit`). Output: an [n_rows,
    n_features] float64 array (float32 values widened to float64 when `float32=True`), columns
    in `get_feature_names_out()` order. Works in Pipeline, clone and GridSearchCV; export a
    fitted pipeline with `to_onnx`.

    Raises:
        DiagnosticError: the spec does not check (file, line, column, caret).
        DataError: `X` lacks a column or holds a value that does not fit its declared type
            (the column, row and value are named).
    """

    def __init__(
        self,
        spec: Any,
        float32: bool = False,
        timestamp_unit: str | None = None,
        sparse: bool = False,
        events: Any = None,
    ) -> None:
        self.spec = spec
        self.float32 = float32
        self.timestamp_unit = timestamp_unit
        self.sparse = sparse
        self.events = events

    def fit(self, X: Any, y: Any = None) -> FeatureTransformer:
        """Fit the spec's statistics on `X` (see the class docstring); `y` is ignored. Returns self."""
        spec = _spec_from_param(self.spec)
        unit = self.timestamp_unit
        fitted = _reading(
            lambda data: spec.fit(data, source="X", timestamp_unit=unit, events=self.events),
            X,
            "fit",
        )
        self.fitted_spec_ = fitted
        self.fingerprint_ = fitted.fingerprint
        self.feature_names_in_ = np.array([c.name for c in spec.inputs], dtype=object)
        self.n_features_in_ = len(spec.inputs)
        self.feature_names_out_ = np.array(fitted.feature_names, dtype=object)
        return self

    def transform(self, X: Any) -> Any:
        """The features of `X`: float64 [n_rows, n_features] (a scipy.sparse CSR matrix with
        `sparse=True`). NotFittedError before fit()."""
        check_is_fitted(self, "fitted_spec_")
        unit = self.timestamp_unit
        feed = _reading(
            lambda data: self.fitted_spec_.feed(data, source="X", timestamp_unit=unit),
            X,
            "transform",
        )
        if self.fitted_spec_.program.windows:
            try:
                feed = self._backfilled(feed)
            except FeatureDSLError as err:  # a missing or bad event table
                raise FeatureInputError(str(err)) from None
        # The module with its constants file, if it has one (a long vocabulary), compiled once.
        module = self.fitted_spec_.transform_feed
        if self.sparse:
            width = len(self.feature_names_out_)
            return sparse_features(module, feed, width, float32=bool(self.float32))
        return module(feed, float32=bool(self.float32))

    def _backfilled(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The feed with every window aggregate backfilled from `events` (converted once)."""
        from featuredsl.artifact.windows import backfill, convert_events

        program = self.fitted_spec_.program
        if getattr(self, "event_feeds_", None) is None:
            self.event_feeds_ = convert_events(program, self.events, self.timestamp_unit)
        return {**feed, **backfill(program, feed, self.event_feeds_)}

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names (object array; a one_hot feature has one name per column).

        Raises ValueError when `input_features` is given and is not the spec's input columns.
        """
        check_is_fitted(self, "fitted_spec_")
        if input_features is not None and list(input_features) != list(self.feature_names_in_):
            raise ValueError(
                f"input_features {list(input_features)} are not the spec's inputs "
                f"{list(self.feature_names_in_)}"
            )
        names: np.ndarray = self.feature_names_out_.copy()
        return names

    def save(self, directory: str | Path) -> dict[str, Path]:
        """Write the build directory (numpy module, ONNX graph, manifest) of the fitted spec."""
        check_is_fitted(self, "fitted_spec_")
        written: dict[str, Path] = self.fitted_spec_.save(directory, float32=bool(self.float32))
        return written

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.input_tags.dict = True
        tags.input_tags.allow_nan = True  # a nullable float column's null is NaN
        tags.transformer_tags.preserves_dtype = []  # always float64 (or float32) features
        tags.requires_fit = True
        return tags


# ----------------------------------------------------------------------------- export


def _split(pipeline: Any) -> tuple[FeatureTransformer, Any]:
    """(the FeatureTransformer, the model part after it) of a fitted Pipeline."""
    steps = getattr(pipeline, "steps", None)
    if not steps:
        raise ArtifactError("to_onnx needs a fitted sklearn Pipeline([FeatureTransformer, ...])")
    first = steps[0][1]
    if not isinstance(first, FeatureTransformer):
        raise ArtifactError(
            f"the pipeline's first step {steps[0][0]!r} is a {type(first).__name__}; put the "
            "FeatureTransformer first (steps before it cannot run in the serving graph)"
        )
    if len(steps) < 2:
        raise ArtifactError("the pipeline has no model after its FeatureTransformer")
    check_is_fitted(first, "fitted_spec_")
    rest = [(name, step) for name, step in steps[1:] if not _passthrough(step)]
    if not rest:
        raise ArtifactError("the pipeline has no model after its FeatureTransformer")
    if any(isinstance(step, FeatureTransformer) for _, step in rest):
        raise ArtifactError("the pipeline has a second FeatureTransformer; use one per pipeline")
    if len(rest) == 1:
        return first, rest[0][1]
    from sklearn.pipeline import Pipeline

    return first, Pipeline(rest)


def _passthrough(step: Any) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def _final(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def model_to_onnx(pipeline: Any, *, target_opset: dict[str, int] | None = None) -> onnx.ModelProto:
    """The model part of `pipeline` (the steps after its FeatureTransformer) as ONNX, with one
    input `features` [N, F]: float32 when the transformer emits float32, else float64. The model
    records the fingerprint and feature names it was trained on, which `featuredsl bundle`
    checks."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    transformer, model = _split(pipeline)
    width = len(transformer.feature_names_out_)
    tensor = FloatTensorType if transformer.float32 else DoubleTensorType
    final = _final(model)
    options = {id(final): {"zipmap": False}} if is_classifier(final) else None
    try:
        exported = convert_sklearn(
            model,
            initial_types=[("features", tensor([None, width]))],
            target_opset=target_opset or TARGET_OPSET,
            options=options,
        )
    except Exception as err:
        raise ArtifactError(_conversion_error(model, transformer, err)) from None
    onnx.helper.set_model_props(
        exported,
        {
            KEY_FINGERPRINT: transformer.fingerprint_,
            KEY_FEATURE_NAMES: json.dumps(list(transformer.feature_names_out_), ensure_ascii=False),
        },
    )
    return exported


def _conversion_error(model: Any, transformer: FeatureTransformer, err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = text if len(text) <= 200 else text[:197] + "..."
    hint = ""
    if not transformer.float32:
        hint = (
            "; its converter may not support float64 input: fit "
            "FeatureTransformer(..., float32=True) and export again"
        )
    return f"skl2onnx cannot convert {type(model).__name__}: {text}{hint}"


def to_onnx(
    pipeline: Any, path: str | Path | None = None, *, target_opset: dict[str, int] | None = None
) -> onnx.ModelProto:
    """One ONNX model for a fitted Pipeline([FeatureTransformer, ...model]): the raw inputs in,
    the model's outputs and `features` out; checked, and written to `path` if given."""
    transformer, model = _split(pipeline)
    exported = model_to_onnx(pipeline, target_opset=target_opset)
    data = serialize(exported)
    graph = feature_graph_from_fitted(transformer.fitted_spec_, "the FeatureTransformer")
    merged = merge(
        graph,
        exported,
        by_order=True,
        model_sha256=hashlib.sha256(data).hexdigest(),
        where=f"the pipeline's {type(model).__name__}",
    )
    if path is not None:
        Path(path).write_bytes(serialize(merged))
    return merged
