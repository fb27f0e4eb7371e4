"""Run generated numpy code: the module itself, or any IR nodes (what fitting needs)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.backends.numpy.codegen import ModuleSpec, render_module
from featuredsl.compiler.ir import InputColumn, Node, Program


def execute_module(
    source: str,
    feed: Mapping[str, np.ndarray],
    files: Mapping[str, bytes] | None = None,
    float32: bool = False,
) -> Any:
    """Run generated module text on a feed. The text is our own codegen output, never spec text.

    `files` are the files the module reads from its own directory (its constants file): they
    are written with the module into a scratch directory, so that it reads and checks them as
    it does in a build directory. `float32` asks the module for its float32-rounded output."""
    transform = load_transform(source, files)
    if float32:
        return transform(feed, float32=True)
    return transform(feed)


def load_transform(source: str, files: Mapping[str, bytes] | None = None) -> Any:
    """The `transform` function of generated module text, compiled once and kept (a streamed
    fit or transform calls it once per batch). `files` as `execute_module`; the module reads
    them when it is loaded, so the scratch directory is gone when this returns."""
    key = (source, tuple(sorted((files or {}).items())))
    cached = _LOADED.get(key)
    if cached is not None:
        return cached
    namespace: dict[str, Any] = {"__name__": "featuredsl_generated"}
    if not files:
        exec(compile(source, "<featuredsl generated module>", "exec"), namespace)
    else:
        with tempfile.TemporaryDirectory(prefix="featuredsl-module-") as scratch:
            path = Path(scratch) / "module.py"
            path.write_text(source, encoding="utf-8")
            for name, data in files.items():
                (Path(scratch) / name).write_bytes(data)
            namespace["__file__"] = str(path)
            exec(compile(source, str(path), "exec"), namespace)
    if len(_LOADED) >= _LOADED_MAX:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[key] = namespace["transform"]
    return namespace["transform"]


_LOADED: dict[Any, Any] = {}
_LOADED_MAX = 8  # modules kept: a streamed fit needs one per phase, a transform one


def evaluate(
    program: Program, nodes: list[Node], feed: Mapping[str, np.ndarray]
) -> dict[Node, np.ndarray]:
    """Values of arbitrary IR nodes on a feed, computed by generated numpy code."""
    module = ModuleSpec(
        spec_name=program.name,
        fingerprint="",
        inputs=program.row_inputs,  # window aggregates: from the backfill, as columns
        outputs=tuple((f"n{i}", node) for i, node in enumerate(nodes)),
        column_names=(),
        widths=tuple(1 for _ in nodes),
        stack=False,
    )
    values = load_transform(render_module(module))(feed)
    return dict(zip(nodes, values, strict=True))


def evaluate_columns(
    inputs: Sequence[InputColumn], nodes: Sequence[Node], feed: Mapping[str, list[int]]
) -> list[np.ndarray]:
    """Values of IR nodes over int columns given as lists (the `TableEvaluator` of
    featuredsl.compiler.tables), computed by generated numpy code."""
    module = ModuleSpec(
        spec_name="tables",
        fingerprint="",
        inputs=tuple(inputs),
        outputs=tuple((f"n{i}", node) for i, node in enumerate(nodes)),
        column_names=(),
        widths=tuple(1 for _ in nodes),
        stack=False,
    )
    arrays = {name: np.asarray(values, dtype=np.int64) for name, values in feed.items()}
    return list(execute_module(render_module(module), arrays))
