"""ONNX backend: builds the serving graph from the fitted IR with onnx.helper.

Each primitive has a small emitter in `EMITTERS` that appends nodes to the graph and returns
the name of its output. Formulations follow docs/parity.md: integer division is guarded (onnx
Div truncates and aborts on zero), string tests use RE2 full matches, and only default-domain
ops that keep float64 are used, plus com.microsoft MurmurHash3 and ai.onnx.ml LabelEncoder.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from featuredsl import __version__
from featuredsl.artifact import contract
from featuredsl.compiler.ir import InputColumn, Node, constant_value, walk
from featuredsl.compiler.types import DType

OPSET = 21  # default domain; needs onnxruntime >= 1.20
ML_OPSET = 3
MS_OPSET = 1
IR_VERSION = 10

ELEMENT_TYPE = {
    DType.FLOAT: TensorProto.DOUBLE,
    DType.INT: TensorProto.INT64,
    DType.BOOL: TensorProto.BOOL,
    DType.STRING: TensorProto.STRING,
    DType.TIMESTAMP: TensorProto.INT64,
}
NUMPY_TYPE = {
    DType.FLOAT: np.float64,
    DType.INT: np.int64,
    DType.BOOL: np.bool_,
    DType.STRING: object,
    DType.TIMESTAMP: np.int64,
}


@dataclass
class GraphContext:
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    _constants: dict[tuple[object, ...], str] = field(default_factory=dict)
    _count: int = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def add(
        self,
        op: str,
        inputs: Sequence[str],
        hint: str | None = None,
        domain: str = "",
        **attrs: Any,
    ) -> str:
        output = self.fresh(hint or op.lower())
        self.nodes.append(
            helper.make_node(op, list(inputs), [output], domain=domain or None, **attrs)
        )
        return output

    def constant(self, dtype: DType, value: object) -> str:
        """A scalar (0-d) initializer, shared by value."""
        array: np.ndarray = np.array(value, dtype=NUMPY_TYPE[dtype])
        return self._initializer(("scalar", dtype, _constant_key(dtype, value)), array)

    def vector(self, dtype: DType, values: Sequence[object]) -> str:
        array: np.ndarray = np.array(list(values), dtype=NUMPY_TYPE[dtype]).reshape(len(values))
        key = ("vector", dtype, tuple(_constant_key(dtype, v) for v in values))
        return self._initializer(key, array)

    def int64s(self, *values: int) -> str:
        return self.vector(DType.INT, list(values))

    def _initializer(self, key: tuple[object, ...], array: np.ndarray) -> str:
        if key not in self._constants:
            name = self.fresh("const")
            self.initializers.append(numpy_helper.from_array(array, name))
            self._constants[key] = name
        return self._constants[key]


def _constant_key(dtype: DType, value: object) -> object:
    return float(value).hex() if dtype is DType.FLOAT else value  # type: ignore[arg-type]


Emitter = Callable[[Node, list[str], GraphContext], str]


def _op(op_type: str) -> Emitter:
    return lambda node, args, ctx: ctx.add(op_type, args)


def _cast(node: Node, args: list[str], ctx: GraphContext) -> str:
    if node.args[0].dtype is DType.TIMESTAMP and node.dtype is DType.INT:
        return ctx.add("Identity", args)
    return ctx.add("Cast", args, to=ELEMENT_TYPE[node.dtype])


def _const(node: Node, args: list[str], ctx: GraphContext) -> str:
    return ctx.constant(node.dtype, constant_value(node))


def _list_const(node: Node, args: list[str], ctx: GraphContext) -> str:
    return ctx.vector(node.dtype, constant_value(node))


def _is_noop_in_float32(node: Node, neutral: float) -> bool:
    """A double constant onnxruntime's NoopElimination would drop: it tests the value in float32
    (x + 1e-50 and x * 1.0000000001 vanish), although in float64 the op changes x."""
    if node.op != "const" or node.dtype is not DType.FLOAT:
        return False
    value = constant_value(node)
    with np.errstate(over="ignore"):
        return bool(np.float32(value) == np.float32(neutral)) and value != neutral


def _arithmetic(op_type: str, neutral: float) -> Emitter:
    def emit(node: Node, args: list[str], ctx: GraphContext) -> str:
        # Expanding the constant to the other operand's (run-time) shape keeps it out of reach of
        # the optimizer, so the graph computes what numpy computes under every session option.
        guarded = list(args)
        for index, arg in enumerate(node.args):
            if _is_noop_in_float32(arg, neutral) and node.args[1 - index].shape.value == "row":
                guarded[index] = _expand_like(args[index], args[1 - index], ctx)
        return ctx.add(op_type, guarded)

    return emit


def _where(node: Node, args: list[str], ctx: GraphContext) -> str:
    if node.dtype is not DType.BOOL:
        return ctx.add("Where", args)
    # onnxruntime has no bool Where kernel: (c and a) or (not c and b) is the same truth table.
    condition, then, otherwise = args
    chosen = ctx.add("And", [condition, then])
    other = ctx.add("And", [ctx.add("Not", [condition]), otherwise])
    return ctx.add("Or", [chosen, other], hint="where")


def _ne(node: Node, args: list[str], ctx: GraphContext) -> str:
    return ctx.add("Not", [ctx.add("Equal", args)])


def _positive_constant_divisor(node: Node) -> bool:
    """A literal divisor > 0 (calendar arithmetic, hashing) cannot trap: no guards needed."""
    divisor = node.args[1]
    return divisor.op == "const" and constant_value(divisor) > 0


def _int_floordiv(node: Node, args: list[str], ctx: GraphContext) -> str:
    if _positive_constant_divisor(node):
        # Div truncates; step down by one where the C remainder is negative.
        a, b = args
        quotient = ctx.add("Div", [a, b])
        negative = ctx.add("Less", [ctx.add("Mod", [a, b], fmod=1), ctx.constant(DType.INT, 0)])
        return ctx.add(
            "Sub", [quotient, ctx.add("Cast", [negative], to=TensorProto.INT64)], hint="floordiv"
        )
    # onnx Div truncates toward zero and aborts on a zero divisor (and INT64_MIN / -1 overflows):
    # divide by a safe divisor, then step truncation down to floor, then patch b == 0 and b == -1.
    a, b = args
    zero, one, minus_one = (ctx.constant(DType.INT, v) for v in (0, 1, -1))
    special = ctx.add("Or", [ctx.add("Equal", [b, zero]), ctx.add("Equal", [b, minus_one])])
    divisor = ctx.add("Where", [special, one, b])
    quotient = ctx.add("Div", [a, divisor])
    remainder = ctx.add("Sub", [a, ctx.add("Mul", [quotient, divisor])])
    signs_differ = ctx.add(
        "Xor", [ctx.add("Less", [remainder, zero]), ctx.add("Less", [divisor, zero])]
    )
    inexact = ctx.add("And", [ctx.add("Not", [ctx.add("Equal", [remainder, zero])]), signs_differ])
    floored = ctx.add("Sub", [quotient, ctx.add("Cast", [inexact], to=TensorProto.INT64)])
    negated = ctx.add("Sub", [zero, a])
    by_minus_one = ctx.add("Where", [ctx.add("Equal", [b, minus_one]), negated, floored])
    return ctx.add("Where", [ctx.add("Equal", [b, zero]), zero, by_minus_one], hint="floordiv")


def _int_mod(node: Node, args: list[str], ctx: GraphContext) -> str:
    # onnx Mod (fmod=0) has Python's sign rule for ints; guard the divisors that trap.
    if _positive_constant_divisor(node):
        return ctx.add("Mod", args, fmod=0, hint="mod")
    a, b = args
    zero, one, minus_one = (ctx.constant(DType.INT, v) for v in (0, 1, -1))
    special = ctx.add("Or", [ctx.add("Equal", [b, zero]), ctx.add("Equal", [b, minus_one])])
    remainder = ctx.add("Mod", [a, ctx.add("Where", [special, one, b])], fmod=0)
    return ctx.add("Where", [special, zero, remainder], hint="mod")


def _expand_like(value: str, like: str, ctx: GraphContext) -> str:
    return ctx.add("Expand", [value, ctx.add("Shape", [like])])


def _broadcast(node: Node, args: list[str], ctx: GraphContext) -> str:
    return _expand_like(args[0], args[1], ctx)


def _case(action: str) -> Emitter:
    def emit(node: Node, args: list[str], ctx: GraphContext) -> str:
        # StringNormalizer rejects an empty batch and 0-d input: normalise [x..., ""] and drop the pad.
        # Locale "C" maps exactly A-Z <-> a-z, the documented rule; other locales are per-platform.
        flat = ctx.add("Reshape", [args[0], ctx.int64s(-1)])
        padded = ctx.add("Concat", [flat, ctx.vector(DType.STRING, [""])], axis=0)
        normalized = ctx.add(
            "StringNormalizer", [padded], case_change_action=action, locale="C", is_case_sensitive=1
        )
        trimmed = ctx.add("Slice", [normalized, ctx.int64s(0), ctx.int64s(-1)])
        return ctx.add("Reshape", [trimmed, ctx.add("Shape", [args[0]])])

    return emit


def _strip_spaces(node: Node, args: list[str], ctx: GraphContext) -> str:
    # No substring op exists: split on " ", then re-join the pieces from the first to the last
    # non-empty one with " " in a Loop. Rows of only spaces (or "") become "".
    flat = ctx.add("Reshape", [args[0], ctx.int64s(-1)])
    pieces = ctx.fresh("pieces")
    ctx.nodes.append(
        helper.make_node("StringSplit", [flat], [pieces, ctx.fresh("counts")], delimiter=" ")
    )
    width = ctx.add("Gather", [ctx.add("Shape", [pieces]), ctx.constant(DType.INT, 1)])
    positions = ctx.add("Range", [ctx.constant(DType.INT, 0), width, ctx.constant(DType.INT, 1)])
    filled = ctx.add("Not", [ctx.add("Equal", [pieces, ctx.constant(DType.STRING, "")])])
    first = ctx.add(
        "ReduceMin", [ctx.add("Where", [filled, positions, width]), ctx.int64s(1)], keepdims=0
    )
    last = ctx.add(
        "ReduceMax",
        [ctx.add("Where", [filled, positions, ctx.constant(DType.INT, -1)]), ctx.int64s(1)],
        keepdims=0,
    )
    empty = ctx.add("Expand", [ctx.constant(DType.STRING, ""), ctx.add("Shape", [flat])])
    body = _strip_loop_body(pieces, first, last, ctx)
    joined = ctx.fresh("stripped")
    ctx.nodes.append(helper.make_node("Loop", [width, "", empty], [joined], body=body))
    return ctx.add("Reshape", [joined, ctx.add("Shape", [args[0]])])


def _strip_loop_body(pieces: str, first: str, last: str, ctx: GraphContext) -> onnx.GraphProto:
    space = ctx.constant(DType.STRING, " ")
    nodes = [
        helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        helper.make_node("Gather", [pieces, "i"], ["piece"], axis=1),
        helper.make_node("GreaterOrEqual", ["i", first], ["after_first"]),
        helper.make_node("LessOrEqual", ["i", last], ["before_last"]),
        helper.make_node("And", ["after_first", "before_last"], ["inside"]),
        helper.make_node("Equal", ["i", first], ["is_first"]),
        helper.make_node("StringConcat", ["acc_in", space], ["with_space"]),
        helper.make_node("StringConcat", ["with_space", "piece"], ["appended"]),
        helper.make_node("Where", ["is_first", "piece", "appended"], ["next"]),
        helper.make_node("Where", ["inside", "next", "acc_in"], ["acc_out"]),
    ]
    return helper.make_graph(
        nodes,
        "strip_body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.STRING, ["N"]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.STRING, ["N"]),
        ],
    )


def re2_literal(text: str) -> str:
    """Escape text so RE2 reads it literally (only ASCII punctuation needs a backslash)."""
    return "".join(
        "\\" + c if c.isascii() and not c.isalnum() and c not in " _\n\t\r" else c for c in text
    )


def _regex(template: str, attribute: str) -> Emitter:
    def emit(node: Node, args: list[str], ctx: GraphContext) -> str:
        text = node.attr(attribute)
        pattern = template.format(re2_literal(text)) if attribute == "text" else text
        return ctx.add("RegexFullMatch", args, pattern=pattern)

    return emit


def _murmur3(node: Node, args: list[str], ctx: GraphContext) -> str:
    hashed = ctx.add("MurmurHash3", args, domain="com.microsoft", seed=0, positive=1)
    return ctx.add("Cast", [hashed], to=TensorProto.INT64)


def _lookup(node: Node, args: list[str], ctx: GraphContext) -> str:
    keys = node.args[1]
    values = constant_value(keys)
    if not values:
        return _expand_like(ctx.constant(DType.INT, -1), args[0], ctx)
    keys_attr: dict[str, Any] = {
        "keys_strings" if keys.dtype is DType.STRING else "keys_int64s": list(values)
    }
    return ctx.add(
        "LabelEncoder",
        [args[0]],
        domain="ai.onnx.ml",
        default_int64=-1,
        values_int64s=list(range(len(values))),
        **keys_attr,
    )


def _bucketize(node: Node, args: list[str], ctx: GraphContext) -> str:
    # Count the edges <= x (searchsorted side='right'); NaN goes to the last bucket.
    x, edges = args
    size = len(constant_value(node.args[1]))
    column = ctx.add("Unsqueeze", [x, ctx.int64s(-1)])
    at_or_above = ctx.add(
        "Cast", [ctx.add("GreaterOrEqual", [column, edges])], to=TensorProto.INT64
    )
    count = ctx.add("ReduceSum", [at_or_above, ctx.int64s(-1)], keepdims=0)
    return ctx.add(
        "Where", [ctx.add("IsNaN", [x]), ctx.constant(DType.INT, size), count], hint="bucket"
    )


def _one_hot(node: Node, args: list[str], ctx: GraphContext) -> str:
    width = node.type.width or 0
    column = ctx.add("Unsqueeze", [args[0], ctx.int64s(-1)])
    hits = ctx.add("Equal", [column, ctx.vector(DType.INT, list(range(width)))])
    return ctx.add("Cast", [hits], to=TensorProto.DOUBLE, hint="one_hot")


EMITTERS: dict[str, Emitter] = {
    "const": _const,
    "list_const": _list_const,
    "list_size": lambda node, args, ctx: ctx.constant(DType.INT, len(node.args[0].attr("values"))),
    "broadcast": _broadcast,
    "add": _arithmetic("Add", 0.0),
    "sub": _arithmetic("Sub", 0.0),
    "mul": _arithmetic("Mul", 1.0),
    "div": _arithmetic("Div", 1.0),
    "neg": _op("Neg"),
    "int_floordiv": _int_floordiv,
    "int_mod": _int_mod,
    "fmod": lambda node, args, ctx: ctx.add("Mod", args, fmod=1),
    "floor": _op("Floor"),
    "ceil": _op("Ceil"),
    "round_even": _op("Round"),
    "abs": _op("Abs"),
    "minimum": _op("Min"),
    "maximum": _op("Max"),
    "sqrt": _op("Sqrt"),
    "pow": _op("Pow"),
    "eq": _op("Equal"),
    "ne": _ne,
    "lt": _op("Less"),
    "le": _op("LessOrEqual"),
    "gt": _op("Greater"),
    "ge": _op("GreaterOrEqual"),
    "and": _op("And"),
    "or": _op("Or"),
    "not": _op("Not"),
    "where": _where,
    "isnan": _op("IsNaN"),
    "to_float": _cast,
    "to_int": _cast,
    "to_string": _cast,
    "lower_ascii": _case("LOWER"),
    "upper_ascii": _case("UPPER"),
    "strip_spaces": _strip_spaces,
    "concat": _op("StringConcat"),
    "starts_with": _regex("(?s){}.*", "text"),
    "ends_with": _regex("(?s).*{}", "text"),
    "contains": _regex("(?s).*{}.*", "text"),
    "matches": _regex("{}", "pattern"),
    "murmur3": _murmur3,
    "lookup": _lookup,
    "bucketize": _bucketize,
    "one_hot": _one_hot,
}

UNSUPPORTED: dict[str, str] = {
    "fitted": "analyzers are replaced by constants before code generation",
}


@dataclass(frozen=True)
class GraphSpec:
    spec_name: str
    fingerprint: str
    inputs: tuple[InputColumn, ...]
    outputs: tuple[tuple[str, Node], ...]
    column_names: tuple[str, ...]
    float32: bool = False


def _value_info(
    name: str, dtype: DType, rank: int = 1, width: int | None = None
) -> onnx.ValueInfoProto:
    shape: list[int | str] = ["N"] if rank == 1 else ["N", width or 0]
    return helper.make_tensor_value_info(name, ELEMENT_TYPE[dtype], shape)


def graph_inputs(inputs: Sequence[InputColumn]) -> list[onnx.ValueInfoProto]:
    infos = []
    for column in inputs:
        infos.append(_value_info(column.name, column.dtype))
        if column.mask_name:
            infos.append(_value_info(column.mask_name, DType.BOOL))
    return infos


def build_model(spec: GraphSpec) -> onnx.ModelProto:
    ctx = GraphContext()
    names: dict[Node, str] = {}
    for node in walk([node for _, node in spec.outputs]):
        if node.op == "input":
            column = node.attr("name")
            names[node] = column if node.attr("role") == "value" else contract.mask_name(column)
            continue
        if node.op in UNSUPPORTED:
            raise ValueError(f"onnx backend cannot emit {node.op!r}: {UNSUPPORTED[node.op]}")
        names[node] = EMITTERS[node.op](node, [names[a] for a in node.args], ctx)
    columns = []
    for _, node in spec.outputs:
        value = names[node]
        if node.op != "one_hot":  # one_hot is already a matrix, even with one column
            value = ctx.add("Unsqueeze", [value, ctx.int64s(-1)])
        columns.append(value)
    stacked = ctx.add("Concat", columns, axis=1) if len(columns) > 1 else columns[0]
    if spec.float32:
        ctx.nodes.append(
            helper.make_node("Cast", [stacked], [contract.OUTPUT], to=TensorProto.FLOAT)
        )
    else:
        ctx.nodes.append(helper.make_node("Identity", [stacked], [contract.OUTPUT]))
    output = helper.make_tensor_value_info(
        contract.OUTPUT,
        TensorProto.FLOAT if spec.float32 else TensorProto.DOUBLE,
        ["N", len(spec.column_names)],
    )
    used = {name for n in ctx.nodes for name in n.input}
    used |= {
        name
        for n in ctx.nodes
        for a in n.attribute
        if a.g.node
        for sub in a.g.node
        for name in sub.input
    }
    initializers = [
        t for t in ctx.initializers if t.name in used
    ]  # e.g. vocabularies live in attributes
    graph = helper.make_graph(
        ctx.nodes, _graph_name(spec.spec_name), graph_inputs(spec.inputs), [output], initializers
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", OPSET),
            helper.make_opsetid("ai.onnx.ml", ML_OPSET),
            helper.make_opsetid("com.microsoft", MS_OPSET),
        ],
        ir_version=IR_VERSION,
        producer_name="featuredsl",
        producer_version=__version__,
    )
    metadata = {
        contract.KEY_FINGERPRINT: spec.fingerprint,
        contract.KEY_FEATURE_NAMES: json.dumps(list(spec.column_names), ensure_ascii=False),
        contract.KEY_VERSION: __version__,
        contract.KEY_SPEC: spec.spec_name,
    }
    helper.set_model_props(model, metadata)
    return model


def _graph_name(spec_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", spec_name) or "features"


def check_model(model: onnx.ModelProto) -> None:
    """onnx's full checker (with shape inference); raises onnx.checker.ValidationError."""
    onnx.checker.check_model(model, full_check=True)


def is_nan(value: float) -> bool:
    return math.isnan(value)
