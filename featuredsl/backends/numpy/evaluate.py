"""Run generated numpy code: the module itself, or any IR nodes (what fitting needs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from featuredsl.backends.numpy.codegen import ModuleSpec, render_module
from featuredsl.compiler.ir import Node, Program


def execute_module(source: str, feed: Mapping[str, np.ndarray], float32: bool = False) -> Any:
    """Run generated module text on a feed. The text is our own codegen output, never spec text."""
    namespace: dict[str, Any] = {"__name__": "featuredsl_generated"}
    exec(compile(source, "<featuredsl generated module>", "exec"), namespace)
    if float32:
        return namespace["transform"](feed, float32=True)
    return namespace["transform"](feed)


def evaluate(
    program: Program, nodes: list[Node], feed: Mapping[str, np.ndarray]
) -> dict[Node, np.ndarray]:
    """Values of arbitrary IR nodes on a feed, computed by generated numpy code."""
    module = ModuleSpec(
        spec_name=program.name,
        fingerprint="",
        inputs=program.inputs,
        outputs=tuple((f"n{i}", node) for i, node in enumerate(nodes)),
        column_names=(),
        widths=tuple(1 for _ in nodes),
        stack=False,
    )
    values = execute_module(render_module(module), feed)
    return dict(zip(nodes, values, strict=True))
