"""Phased fitting: compute every analyzer on the training data and bake the results into the IR.

Analyzers whose inputs contain no unfitted analyzer form one phase. The inputs of a phase are
computed by the same generated numpy code as the training module (so a statistic over a derived
expression sees exactly the values the module computes), then each analyzer's accumulator runs,
and the results replace the `fitted` nodes as constants.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from featuredsl.compiler.ir import Builder, Node, Program, constant_value, decode_constant, walk
from featuredsl.compiler.ops.categorical import column_names
from featuredsl.compiler.types import DType, Shape, Type
from featuredsl.fit.analyzers import Analyzer, EmptyAnalyzerError, NextPass, Vocab, make_analyzer
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


Batches = Callable[[], Iterable[Mapping[str, np.ndarray]]]
"""A re-iterable source of feeds: each call starts a new pass over the data, in any chunking."""


def fit_program(
    program: Program, feed: Mapping[str, np.ndarray], builder: Builder, evaluate: Evaluator
) -> tuple[Program, list[FittedConstant]]:
    """Fit every analyzer of `program` on one in-memory `feed`: `fit_batches` with one batch.

    Args:
        program: a checked program whose features may contain `fitted` nodes.
        feed: the canonical feed (one 1-D array per input column, masks for nullable
            non-float columns; see `featuredsl.ingest`), at least one row.
        builder: the IR builder that interned `program` (new constants are interned there).
        evaluate: computes IR nodes on the feed (the numpy backend's `evaluate`).

    Returns and raises as `fit_batches`.
    """
    return fit_batches(program, lambda: (feed,), builder, evaluate)


PhaseRunner = Callable[[Program, list[Node]], list[Any]]
"""Runs one phase: (program so far, the analyzers' `fitted` nodes) -> their results, in order.
`fit_batches` runs it in process; a distributed engine runs `accumulate` per partition on its
workers and `merge_extract` on the merged accumulators."""


def fit_batches(
    program: Program,
    batches: Batches,
    builder: Builder,
    evaluate: Evaluator,
    on_pass: Callable[[int, int], None] = lambda phase, phases: None,
) -> tuple[Program, list[FittedConstant]]:
    """Fit every analyzer of `program` on a stream of feeds, phase by phase, and fold them in.

    Each phase (the analyzers whose inputs hold no unfitted analyzer) is one pass over the
    data: every batch is evaluated by the module's own code and added to each analyzer's
    accumulator; the accumulators are merged and extracted once the pass ends. The analyzers
    are exact and order-independent (`featuredsl.fit.analyzers`), so the constants are
    bit-identical whatever the batch sizes and the order of the batches, and equal to a fit on
    all the rows at once.

    Args:
        program: a checked program whose features may contain `fitted` nodes.
        batches: called once per phase; returns the canonical feeds (see `featuredsl.ingest`).
        builder: the IR builder that interned `program` (new constants are interned there).
        evaluate: computes IR nodes on a feed (the numpy backend's `evaluate`).
        on_pass: called with (phase number from 1, phases known so far) before each pass.

    Returns:
        The program with every `fitted` node replaced by its constant (one-hot features get
        their column names), and the fitted constants in spec order, as the manifest lists them.

    Raises:
        DiagnosticError: an analyzer has nothing to fit on (for example every value is null),
            pointing at the analyzer call in the spec.
    """

    def run_phase(program: Program, ready: list[Node]) -> list[Any]:
        def one_pass(nodes: list[Node], plans: list[Any]) -> list[list[Any]]:
            return [accumulate(program, nodes, batches(), evaluate, plans)]

        return run_passes(program, ready, one_pass)

    return fit_phases(program, run_phase, builder, evaluate, on_pass)


def fit_phases(
    program: Program,
    run_phase: PhaseRunner,
    builder: Builder,
    evaluate: Evaluator,
    on_pass: Callable[[int, int], None] = lambda phase, phases: None,
) -> tuple[Program, list[FittedConstant]]:
    """The phase loop of `fit_batches` with the pass itself left to `run_phase`: find the
    analyzers whose inputs are fitted, run them, fold their results in, repeat; then fold
    constant expressions. Arguments, result and errors as `fit_batches`."""
    roots = list(program.roots)
    constants: list[FittedConstant] = []
    phase = 0
    while True:
        pending = [n for n in walk(roots) if n.op == "fitted"]
        if not pending:
            break
        ready = [n for n in pending if not any(m.op == "fitted" for m in walk(n.args))]
        phase += 1
        on_pass(phase, phase + (len(pending) > len(ready)))
        results = dict(zip(ready, run_phase(program, ready), strict=True))
        replacements: dict[Node, Node] = {}
        for node in ready:
            result, counts = results[node]
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


class Merger:
    """Merges a stream of accumulators in a balanced binary tree (a binary counter): each value
    takes part in O(log batches) merges, so a growing accumulator (the distinct values of a
    quantile) is not re-merged with every batch. The analyzers' merge is associative and
    order-independent, so the tree shape never changes a result."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.stack: list[tuple[int, Any]] = []

    def add(self, acc: Any) -> None:
        weight = 1
        while self.stack and self.stack[-1][0] == weight:
            _, top = self.stack.pop()
            acc = self.analyzer.merge_accumulators([top, acc])
            weight *= 2
        self.stack.append((weight, acc))

    def result(self, empty: Any = None) -> Any:
        """The merge of everything added (`empty`, or a new accumulator, when nothing was)."""
        if not self.stack:
            return self.analyzer.create_accumulator() if empty is None else empty
        return self.analyzer.merge_accumulators([acc for _, acc in self.stack])


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
    feed = {column.name: PLACEHOLDER[column.dtype] for column in program.row_inputs}
    feed.update({c.mask_name: np.zeros(1, dtype=bool) for c in program.row_inputs if c.mask_name})
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


def analyzer_of(node: Node) -> Analyzer:
    """The analyzer of a `fitted` node."""
    return make_analyzer(node.attr("analyzer"), _params(node))


OnePass = Callable[[list[Node], list[Any]], list[list[Any]]]
"""One pass over the data for some analyzers with their plans (None: a first pass) -> the
accumulators of each partition (`parts[i][j]`: partition i, analyzer j)."""


def run_passes(program: Program, ready: list[Node], one_pass: OnePass) -> list[Any]:
    """The results of the `ready` analyzers, running passes until none asks for another
    (`NextPass`: a quantile over more distinct values than DISTINCT_CAP brackets its ranks)."""
    plans: list[Any] = [None] * len(ready)
    results: list[Any] = [None] * len(ready)
    todo = list(range(len(ready)))
    while todo:
        nodes = [ready[i] for i in todo]
        outs = merge_extract(program, nodes, one_pass(nodes, [plans[i] for i in todo]))
        again = []
        for i, out in zip(todo, outs, strict=True):
            if isinstance(out, NextPass):
                plans[i] = out.plan
                again.append(i)
            else:
                results[i] = out
        todo = again
    return results


def accumulate(
    program: Program,
    ready: list[Node],
    feeds: Iterable[Mapping[str, np.ndarray]],
    evaluate: Evaluator,
    plans: list[Any] | None = None,
) -> list[Any]:
    """One pass over `feeds`: the accumulator of each `ready` analyzer (in order), every batch
    evaluated by the module's own code and added, the per-batch accumulators merged in a tree.
    `plans[j]` (None: a first pass) is the plan of analyzer j's further pass (`NextPass`)."""
    inputs = list(dict.fromkeys(arg for node in ready for arg in node.args))
    analyzers = [analyzer_of(node) for node in ready]
    plans = plans or [None] * len(ready)
    mergers = [Merger(analyzer) for analyzer in analyzers]
    empties = [
        a.create_accumulator() if plan is None else a.refined_accumulator(plan)
        for a, plan in zip(analyzers, plans, strict=True)
    ]
    for feed in feeds:
        values = evaluate(program, inputs, feed)
        for node, analyzer, merger, empty in zip(ready, analyzers, mergers, empties, strict=True):
            data = np.asarray(values[node.args[0]])
            mask = np.asarray(values[node.args[1]]) if len(node.args) > 1 else None
            if mask is not None and mask.shape != data.shape:
                # A mask can be a scalar where nullness is constant, e.g. `if c then x else null`.
                mask = np.broadcast_to(mask, data.shape)
            merger.add(analyzer.add_input(empty, data, mask))
    return [merger.result(empty) for merger, empty in zip(mergers, empties, strict=True)]


def merge_extract(program: Program, ready: list[Node], parts: list[list[Any]]) -> list[Any]:
    """The results of the `ready` analyzers from the accumulators of several passes or
    partitions (`parts[i][j]`: partition i, analyzer j), merged in a tree.

    Raises DiagnosticError when an analyzer saw nothing, or a vocabulary kept nothing."""
    results = []
    for j, node in enumerate(ready):
        analyzer = analyzer_of(node)
        merger = Merger(analyzer)
        for part in parts:
            merger.add(part[j])
        results.append(_extract(program, node, analyzer, merger))
    return results


def _extract(program: Program, node: Node, analyzer: Analyzer, merger: Merger) -> Any:
    """The analyzer's (result, counts), counts being the training count of each value a
    vocabulary keeps (what `featuredsl show` lists; not part of the fingerprint) and None for
    other analyzers; or its NextPass when it needs another pass."""
    try:
        accumulator = merger.result()
        counts = None
        if isinstance(analyzer, Vocab):
            result, counts = analyzer.extract_with_counts(accumulator)
        else:
            result = analyzer.extract_output(accumulator)
        if isinstance(result, NextPass):
            return result
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


__all__ = [
    "Batches",
    "Evaluator",
    "FittedConstant",
    "Merger",
    "OnePass",
    "PhaseRunner",
    "accumulate",
    "analyzer_of",
    "decode_constant",
    "fit_batches",
    "fit_phases",
    "fit_program",
    "merge_extract",
    "run_passes",
]
