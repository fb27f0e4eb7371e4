"""featuredsl: declare features once, compute the same values in training (numpy) and serving (ONNX).

spec = featuredsl.load_spec("churn.fdsl")
fitted = spec.fit(training_dataframe)
fitted.save("build/churn")
artifacts = featuredsl.load("build/churn")  # .transform(data), .session, .feature_names
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load", "load_spec"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `featuredsl check` does not pay for importing onnx and onnxruntime.
    if name in ("load", "load_spec"):
        from featuredsl.artifact import spec as artifacts

        return getattr(artifacts, name)
    raise AttributeError(f"module 'featuredsl' has no attribute {name!r}")
