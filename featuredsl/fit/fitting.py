"""Phased fitting: compute every analyzer on the training data and bake the results into the IR.

Analyzers whose inputs contain no unfitted analyzer form one phase. The inputs of a phase are
computed by the same generated numpy code as the training module (so a statistic over a derived
expression sees exactly the values the module computes), then each analyzer's accumulator runs,
and the results replace the `fitted` nodes as constants.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from featuredsl.compiler.ir import Builder, Node, Program, constant_value, decode_constant, walk
from featuredsl.compiler.ops.categorical import column_names
from featuredsl.compiler.types import DType, Shape, Type
from featuredsl.fit.analyzers import EmptyAnalyzerError, Vocab, make_analyzer
from featuredsl.language.diagnostics import Diagnostic, DiagnosticError

Evaluator = Callable[[Program, list[Node], Mapping[str, np.ndarray]], dict[Node, np.ndarray]]
"""Computes IR nodes on a feed: (program, nodes, feed) -> {node: 1-D array}. The artifact layer
passes the numpy backend's `evaluate`, so fitting sees exactly the values the module computes."""


@dataclass(frozen=True)
class FittedConstant:
    """One fitted statistic, as recorded in the manifest."""

    analyzer: str
    params: dict[str, Any]
    line: int
    column: int
    source: str  # the spec text of the analyzer call
    value: Any
    counts: tuple[int, ...] | None = None  # vocab: training-data count of each kept value


def _params(node: Node) -> dict[str, Any]:
    params = {k: v for k, v in node.attrs if k != "analyzer"}
    if "q" in params:
        params["q"] = float.fromhex(params["q"])
    return params


def _span_text(program: Program, node: Node) -> str:
    lines = program.source.splitlines()
    span = node.span
    if 1 <= span.line <= len(lines) and span.end_line == span.line:
        return lines[span.line - 1][span.column - 1 : span.end_column - 1]
    return node.attr("analyzer")


def _result_node(builder: Builder, node: Node, result: Any) -> Node:
    if node.shape is Shape.LIST:
        values = list(result)
        if node.dtype is DType.FLOAT:
            values = [float(v) for v in values]
        return builder.list_const(node.dtype, values, node.span)
    if node.dtype is DType.FLOAT:
        return builder.const(DType.FLOAT, float(result), node.span)
    return builder.const(node.dtype, result, node.span)


def fit_program(
    program: Program, feed: Mapping[str, np.ndarray], builder: Builder, evaluate: Evaluator
) -> tuple[Program, list[FittedConstant]]:
    """Fit every analyzer of `program` on `feed`, phase by phase, and fold the results in.

    Args:
        program: a checked program whose features may contain `fitted` nodes.
        feed: the canonical feed (one 1-D array per input column, masks for nullable
            non-float columns; see `featuredsl.ingest`), at least one row.
        builder: the IR builder that interned `program` (new constants are interned there).
        evaluate: computes IR nodes on the feed (the numpy backend's `evaluate`).

    Returns:
        The program with every `fitted` node replaced by its constant (one-hot features get
        their column names), and the fitted constants in spec order, as the manifest lists them.

    Raises:
        DiagnosticError: an analyzer has nothing to fit on (for example every value is null),
            pointing at the analyzer call in the spec.
    """
    roots = list(program.roots)
    constants: list[FittedConstant] = []
    while True:
        pending = [n for n in walk(roots) if n.op == "fitted"]
        if not pending:
            break
        ready = [n for n in pending if not any(m.op == "fitted" for m in walk(n.args))]
        inputs = list(dict.fromkeys(arg for node in ready for arg in node.args))
        values = evaluate(program, inputs, feed)
        replacements: dict[Node, Node] = {}
        for node in ready:
            result, counts = _run_analyzer(program, node, values)
            replacements[node] = _result_node(builder, node, result)
            constants.append(
                FittedConstant(
                    node.attr("analyzer"),
                    _params(node),
                    node.span.line,
                    node.span.column,
                    _span_text(program, node),
                    _jsonable(result),
                    counts,
                )
            )
        roots = _rebuild(roots, replacements, builder)
    roots = _fold_constants(program, roots, builder, evaluate)
    constants.sort(key=lambda c: (c.line, c.column, c.analyzer))
    features = tuple(
        replace(feature, node=node, column_names=column_names(feature.name, node))
        for feature, node in zip(program.features, roots, strict=True)
    )
    return replace(program, features=features), constants


LEAVES = frozenset({"const", "list_const"})


def _fold_constants(
    program: Program, roots: list[Node], builder: Builder, evaluate: Evaluator
) -> list[Node]:
    """Replace every scalar expression of constants (literals and fitted statistics) by its value,
    computed once by the numpy module's own code.

    Both artifacts then carry the same constant, and onnxruntime has nothing left to fold: its
    constant folding evaluates some sequences differently from the run-time kernels (found by
    the fuzzer: `1 % -4.4e-162` came out 0.0 at ORT_ENABLE_BASIC and above)."""
    constant: dict[Node, bool] = {}
    for node in walk(roots):
        constant[node] = node.op in LEAVES or (
            bool(node.args)
            and node.op not in ("input", "fitted")
            and all(constant[a] for a in node.args)
        )
    foldable = [
        n for n in walk(roots) if constant[n] and n.op not in LEAVES and n.shape is Shape.SCALAR
    ]
    if not foldable:
        return roots
    # Constants depend on no input: one placeholder row is enough (and the feed may be partial).
    values = evaluate(program, foldable, _placeholder_row(program))
    replacements = {n: _scalar_const(builder, n, values[n]) for n in foldable}
    return _rebuild(roots, replacements, builder)


PLACEHOLDER = {
    DType.FLOAT: np.zeros(1),
    DType.INT: np.zeros(1, dtype=np.int64),
    DType.TIMESTAMP: np.zeros(1, dtype=np.int64),
    DType.BOOL: np.zeros(1, dtype=bool),
    DType.STRING: np.array([""], dtype=object),
}


def _placeholder_row(program: Program) -> dict[str, np.ndarray]:
    feed = {column.name: PLACEHOLDER[column.dtype] for column in program.inputs}
    feed.update({c.mask_name: np.zeros(1, dtype=bool) for c in program.inputs if c.mask_name})
    return feed


def _scalar_const(builder: Builder, node: Node, value: Any) -> Node:
    item = np.asarray(value).reshape(-1)[0] if np.ndim(value) else np.asarray(value)[()]
    if node.dtype is DType.FLOAT:
        return builder.const(DType.FLOAT, float(item), node.span)
    if node.dtype is DType.BOOL:
        return builder.const(DType.BOOL, bool(item), node.span)
    if node.dtype is DType.STRING:
        return builder.const(DType.STRING, str(item), node.span)
    return builder.const(node.dtype, int(item), node.span)


def _run_analyzer(
    program: Program, node: Node, values: dict[Node, np.ndarray]
) -> tuple[Any, tuple[int, ...] | None]:
    """The analyzer's result, and for a vocabulary the count of each kept value (what
    `featuredsl show` lists; the counts are not part of the fingerprint)."""
    data = np.asarray(values[node.args[0]])
    mask = np.asarray(values[node.args[1]]) if len(node.args) > 1 else None
    if mask is not None and mask.shape != data.shape:
        # A mask can be a scalar where nullness is constant, e.g. `if c then x else null`.
        mask = np.broadcast_to(mask, data.shape)
    analyzer = make_analyzer(node.attr("analyzer"), _params(node))
    try:
        accumulator = analyzer.add_input(analyzer.create_accumulator(), data, mask)
        counts = None
        if isinstance(analyzer, Vocab):
            result, counts = analyzer.extract_with_counts(accumulator)
        else:
            result = analyzer.extract_output(accumulator)
    except EmptyAnalyzerError as error:
        diagnostic = Diagnostic(
            f"cannot fit {_span_text(program, node)}: {error}",
            node.span,
            "the training data has no non-null values for it; check the data or fill nulls first",
        )
        raise DiagnosticError([diagnostic], program.source, program.filename) from None
    if node.shape is Shape.LIST and len(result) == 0:
        diagnostic = Diagnostic(
            f"{_span_text(program, node)} kept no values from the training data",
            node.span,
            "lower min_count, or check the column's values",
        )
        raise DiagnosticError([diagnostic], program.source, program.filename)
    return result, counts


def _rebuild(roots: list[Node], replacements: dict[Node, Node], builder: Builder) -> list[Node]:
    """Substitute fitted results, and re-type what depends on a now-known vocabulary size."""
    mapping: dict[Node, Node] = {}
    for node in walk(roots):
        if node in replacements:
            mapping[node] = replacements[node]
            continue
        args = tuple(mapping[a] for a in node.args)
        if node.op == "list_size" and args[0].op == "list_const":
            mapping[node] = builder.const(DType.INT, len(args[0].attr("values")), node.span)
            continue
        type_ = node.type
        if node.op == "one_hot" and args[1].op == "list_const":
            type_ = Type(
                node.dtype, node.shape, len(args[1].attr("values")) + node.attr("oov_buckets")
            )
        if (
            node.op == "bucketize"
            and args[1].op == "list_const"
            and args[1].dtype is not DType.FLOAT
        ):
            args = (
                args[0],
                builder.list_const(DType.FLOAT, [float(v) for v in constant_value(args[1])]),
            )
        if type_ == node.type and all(a is b for a, b in zip(args, node.args, strict=True)):
            mapping[node] = node
        else:
            mapping[node] = builder.node(node.op, args, type_, dict(node.attrs), node.span)
    return [mapping[r] for r in roots]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        if set(map(type, value)) <= {str, int}:  # a vocabulary: JSON as it is
            return list(value)
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


__all__ = ["Evaluator", "FittedConstant", "decode_constant", "fit_program"]
