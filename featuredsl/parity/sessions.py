"""onnxruntime sessions in this process at a named graph optimization level.

onnxruntime rewrites a graph before it runs it (ORT_ENABLE_ALL is the default in every language
binding, and a serving team may choose any level). A rewrite that changes a rounding or the sign
of a zero is a parity bug, so parity runs every graph at both ends of the scale, with
optimizations disabled and all enabled, and fails on any difference (docs/parity.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

# The level names of featuredsl.parity.matrix (and onnxruntime-node's graphOptimizationLevel).
OPTIMIZATIONS = ("disabled", "basic", "extended", "all")
CHECKED_OPTIMIZATIONS = ("disabled", "all")


def optimization_level(name: str) -> Any:
    """The onnxruntime.GraphOptimizationLevel called `name` (one of OPTIMIZATIONS)."""
    import onnxruntime as ort

    levels = {
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if name not in levels:
        raise ValueError(f"unknown optimization level {name!r}; use one of {OPTIMIZATIONS}")
    return levels[name]


def onnx_session(model: bytes | str | Path, optimization: str = "all", threads: int = 1) -> Any:
    """A quiet CPU session for a serialized model or a model file."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = optimization_level(optimization)
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_outputs(
    session: Any, feed: Mapping[str, np.ndarray], outputs: list[str] | None = None
) -> list[np.ndarray]:
    """Run with the feed's entries the graph takes (extra columns are left out)."""
    names = {i.name for i in session.get_inputs()}
    result: list[np.ndarray] = session.run(outputs, {k: v for k, v in feed.items() if k in names})
    return result
