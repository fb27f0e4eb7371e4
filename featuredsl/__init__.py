"""featuredsl: declare features once, compute the same values in training (numpy) and serving (ONNX).

    spec = featuredsl.load_spec("churn.fdsl")
    fitted = spec.fit(training_dataframe)
    fitted.save("build/churn")
    artifacts = featuredsl.load("build/churn")  # .transform(data), .session, .feature_names

The names below load lazily, so that `featuredsl check` does not pay for importing onnx and
onnxruntime. docs/api.md documents each of them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "load_spec": "featuredsl.artifact.spec",
    "Spec": "featuredsl.artifact.spec",
    "FittedSpec": "featuredsl.artifact.spec",
    "load": "featuredsl.artifact.load",
    "Artifacts": "featuredsl.artifact.load",
    "build": "featuredsl.parity.build",
    "run_parity": "featuredsl.parity.runner",
    "Session": "featuredsl.runtime.serving",
    "FeatureTransformer": "featuredsl.runtime.sklearn",
    "to_onnx": "featuredsl.runtime.sklearn",
    "bundle": "featuredsl.runtime.bundle",
    "shadow": "featuredsl.runtime.shadow",
    "to_feed": "featuredsl.ingest",
    "read_table": "featuredsl.ingest",
    "open_source": "featuredsl.ingest.batches",
    "transform_path": "featuredsl.artifact.transform",
    "fit_dask": "featuredsl.distributed.dask",
    "transform_on_dask": "featuredsl.distributed.dask",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'featuredsl' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
