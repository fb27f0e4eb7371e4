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
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from featuredsl import __version__
from featuredsl.artifact import contract
from featuredsl.backends.onnx import events
from featuredsl.backends.onnx.context import (
    ELEMENT_TYPE,
    FunctionContext,
    GraphContext,
    logical_not,
)
from featuredsl.backends.onnx.signs import signs_of
from featuredsl.compiler.ir import (
    EventSource,
    Freshness,
    InputColumn,
    Node,
    Window,
    constant_value,
    walk,
)
from featuredsl.compiler.libm import PARAMETER, ROUTINE_DOMAIN, routine_body, routine_docs
from featuredsl.compiler.tables import int_range
from featuredsl.compiler.types import DType

OPSET = 21  # default domain; needs onnxruntime >= 1.20
ML_OPSET = 3
MS_OPSET = 1
IR_VERSION = 10
ROUTINE_OPSET = 1  # the domain of featuredsl's model-local functions (libm routines)

Emitter = Callable[[Node, list[str], GraphContext], str]


def _op(op_type: str) -> Emitter:
    return lambda node, args, ctx: ctx.add(op_type, args)


def _cast(node: Node, args: list[str], ctx: GraphContext) -> str:
    if node.args[0].dtype is DType.TIMESTAMP and node.dtype is DType.INT:
        return args[0]  # both are int64 microseconds: nothing to compute
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
        for index in range(len(node.args)):
            if (
                _fusable_constant(node, index, neutral)
                and node.args[1 - index].shape.value == "row"
            ):
                guarded[index] = _expand_like(args[index], args[1 - index], ctx)
        return ctx.add(op_type, guarded)

    return emit


def _fusable_constant(node: Node, index: int, neutral: float) -> bool:
    """A constant operand an onnxruntime rewrite would use to change the rounding: a near-neutral
    constant NoopElimination drops (see _is_noop_in_float32), or the 1.0 of `1 / x`, which
    DivMulFusion (ORT_ENABLE_BASIC and up) folds with a following `* y` into one division, so
    `(1 / x) * 3.0` rounds once instead of twice."""
    arg = node.args[index]
    if _is_noop_in_float32(arg, neutral):
        return True
    return node.op == "div" and index == 0 and arg.op == "const" and constant_value(arg) == 1.0


# --- signed zeros. onnxruntime's Where (1.20-1.32, double) returns 0.0 where it picks a -0.0
# from its second input; a -0.0 from the third input survives. A -0.0 therefore only ever leaves
# a Where through the third input; featuredsl.backends.onnx.signs says which values may be -0.0.


def _reciprocal(node: Node, value: str, ctx: GraphContext) -> str:
    """1 / value (-inf for -0.0, +inf for 0.0); computed here for a constant."""
    if node.op == "const":
        with np.errstate(divide="ignore"):
            return ctx.constant(DType.FLOAT, float(np.divide(1.0, constant_value(node))))
    return ctx.add("Div", [ctx.constant(DType.FLOAT, 1.0), value])


def _is_zero(value: str, ctx: GraphContext) -> str:
    return ctx.add("Equal", [value, ctx.constant(DType.FLOAT, 0.0)])


def _with_negative_zero(value: str, negative_zero: str, ctx: GraphContext) -> str:
    """-0.0 where `negative_zero`, else value: the -0.0 comes from Where's third input."""
    minus_zero = ctx.constant(DType.FLOAT, -0.0)
    return ctx.add("Where", [logical_not(negative_zero, ctx), value, minus_zero], hint="signed")


def _where_float(node: Node, args: list[str], ctx: GraphContext) -> str:
    condition, then, otherwise = args
    if not ctx.signs[node.args[1]].negative_zero:
        return ctx.add("Where", args)
    if not ctx.signs[node.args[2]].negative_zero:
        return ctx.add("Where", [logical_not(condition, ctx), otherwise, then])
    # Both may be -0.0: pick, then give a zero the sign of the picked value's reciprocal (the
    # reciprocals of zeros are infinities, which Where passes unchanged).
    picked = ctx.add("Where", args)
    reciprocals = [_reciprocal(n, v, ctx) for n, v in zip(node.args[1:], args[1:], strict=True)]
    negative = ctx.add(
        "Less", [ctx.add("Where", [condition, *reciprocals]), ctx.constant(DType.FLOAT, 0.0)]
    )
    return _with_negative_zero(picked, ctx.add("And", [_is_zero(picked, ctx), negative]), ctx)


def _rounding(op_type: str) -> Emitter:
    def emit(node: Node, args: list[str], ctx: GraphContext) -> str:
        rounded = ctx.add(op_type, args)
        if not ctx.signs[node].negative_zero:
            return rounded
        # onnxruntime 1.20 rounds -0.0 (and Ceil rounds (-1, 0)) to 0.0; IEEE keeps x's sign.
        negative = ctx.add(
            "Less", [_reciprocal(node.args[0], args[0], ctx), ctx.constant(DType.FLOAT, 0.0)]
        )
        return _with_negative_zero(rounded, ctx.add("And", [_is_zero(rounded, ctx), negative]), ctx)

    return emit


def _extremum(op_type: str) -> Emitter:
    """IEEE 754-2019 minimum/maximum: NaN if either is NaN; -0.0 is below 0.0."""

    def emit(node: Node, args: list[str], ctx: GraphContext) -> str:
        if node.dtype is not DType.FLOAT:
            # onnxruntime 1.22-1.31 compute int64 Min/Max wrongly beyond +-2**31, differently
            # for different batch sizes: compare and pick instead.
            picks_first = ctx.add("Less" if op_type == "Min" else "Greater", args)
            return ctx.add("Where", [picks_first, *args], hint=op_type.lower())
        result = ctx.add(op_type, args)
        if not any(ctx.signs[arg].negative_zero for arg in node.args):
            return result
        # Between 0.0 and -0.0 onnxruntime's double Min/Max pick either, depending on the batch
        # size. A zero minimum is -0.0 if an argument is; a zero maximum is 0.0 if an argument
        # is. Arguments are then zeros or (for min) positive or (for max) negative, so the sign
        # of a reciprocal tells.
        winner = -1.0 if op_type == "Min" else 1.0  # the sign of the zero that wins a tie
        zero = ctx.constant(DType.FLOAT, 0.0)
        constants = [constant_value(n) for n in node.args if n.op == "const"]
        if any(c == 0.0 and math.copysign(1.0, c) == winner for c in constants):
            at_zero = _is_zero(result, ctx)  # the winning zero is an argument
        else:
            compare = "Less" if op_type == "Min" else "Greater"
            tests = [
                ctx.add(compare, [_reciprocal(n, value, ctx), zero])
                for n, value in zip(node.args, args, strict=True)
                if n.op != "const"
                and (ctx.signs[n].negative_zero if op_type == "Min" else ctx.signs[n].positive)
            ]
            if not tests:  # no argument can be the winning zero: Min/Max is right
                return result
            hit = tests[0] if len(tests) == 1 else ctx.add("Or", tests)
            at_zero = ctx.add("And", [_is_zero(result, ctx), hit])
        if op_type == "Min":
            return _with_negative_zero(result, at_zero, ctx)
        return ctx.add("Where", [at_zero, zero, result], hint="max")

    return emit


def _where(node: Node, args: list[str], ctx: GraphContext) -> str:
    if node.dtype is DType.FLOAT:
        return _where_float(node, args, ctx)
    if node.dtype is not DType.BOOL:
        return ctx.add("Where", args)
    # onnxruntime has no bool Where kernel: (c and a) or (not c and b) is the same truth table.
    condition, then, otherwise = args
    chosen = ctx.add("And", [condition, then])
    other = ctx.add("And", [logical_not(condition, ctx), otherwise])
    return ctx.add("Or", [chosen, other], hint="where")


def _ne(node: Node, args: list[str], ctx: GraphContext) -> str:
    return logical_not(ctx.add("Equal", args), ctx)


def _positive_constant_divisor(node: Node) -> bool:
    """A literal divisor > 0 (calendar arithmetic, hashing) cannot trap: no guards needed."""
    divisor = node.args[1]
    return divisor.op == "const" and constant_value(divisor) > 0


def _non_negative(node: Node, ctx: GraphContext) -> bool:
    known = ctx.ranges.get(node)
    return known is not None and known[0] >= 0


def _int_floordiv(node: Node, args: list[str], ctx: GraphContext) -> str:
    if _positive_constant_divisor(node) and _non_negative(node.args[0], ctx):
        return ctx.add("Div", args, hint="floordiv")  # truncation is floor for a >= 0
    if _positive_constant_divisor(node):
        # Div truncates; step down by one for a negative a that b does not divide. (Not the sign
        # of Mod(fmod=1): onnxruntime 1.20-1.31 compute int64 fmod through double, wrong beyond
        # 2**53.)
        a, b = args
        zero = ctx.constant(DType.INT, 0)
        quotient = ctx.add("Div", [a, b])
        divides = ctx.add("Equal", [ctx.add("Mod", [a, b], fmod=0), zero])
        step = ctx.add("And", [ctx.add("Less", [a, zero]), logical_not(divides, ctx)])
        return ctx.add(
            "Sub", [quotient, ctx.add("Cast", [step], to=TensorProto.INT64)], hint="floordiv"
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
    inexact = ctx.add("And", [logical_not(ctx.add("Equal", [remainder, zero]), ctx), signs_differ])
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
    letters = "[A-Z]" if action == "LOWER" else "[a-z]"

    def emit(node: Node, args: list[str], ctx: GraphContext) -> str:
        # StringNormalizer with locale "C" maps exactly A-Z <-> a-z on onnxruntime's CPU builds,
        # but onnxruntime-web maps every letter ("Ä" -> "ä"). So only runs of ASCII letters go
        # through it: com.microsoft Tokenizer cuts each string into runs of [A-Z] and of
        # anything else ("Straße" -> "S", "traße"), the letter runs are normalised, and the runs
        # are joined again. A padding row "x" keeps every batch at least one run wide
        # (StringNormalizer rejects an empty input).
        flat = ctx.add("Reshape", [args[0], ctx.int64s(-1)])
        padded = ctx.add("Concat", [flat, ctx.vector(DType.STRING, ["x"])], axis=0)
        runs = ctx.add(
            "Tokenizer",
            [padded],
            domain="com.microsoft",
            mark=0,
            mincharnum=1,
            pad_value="",
            tokenexp=f"{letters}+|[^{letters[1:-1]}]+",
        )
        ctx.value_infos.append(
            helper.make_tensor_value_info(runs, TensorProto.STRING, [None, None])
        )
        normalized = ctx.add(
            "StringNormalizer",
            [ctx.add("Reshape", [runs, ctx.int64s(-1)])],
            case_change_action=action,
            locale="C",
            is_case_sensitive=1,
        )
        is_letters = ctx.add("RegexFullMatch", [runs], pattern=f"{letters}+")
        mapped = ctx.add(
            "Where", [is_letters, ctx.add("Reshape", [normalized, ctx.add("Shape", [runs])]), runs]
        )
        joined = _join_columns(mapped, ctx)
        trimmed = ctx.add("Slice", [joined, ctx.int64s(0), ctx.int64s(-1)])
        return ctx.add("Reshape", [trimmed, ctx.add("Shape", [args[0]])])

    return emit


def _join_columns(strings: str, ctx: GraphContext) -> str:
    """Concatenate the columns of a [N, W] string matrix (W >= 1) into [N]: a Loop halves the
    width by joining neighbouring columns (after padding an odd width with ""), so each
    character is copied log2(W) times."""
    width = ctx.add("Gather", [ctx.add("Shape", [strings]), ctx.constant(DType.INT, 1)])
    wide = ctx.add("Greater", [width, ctx.constant(DType.INT, 1)])
    joined = ctx.fresh("joined")
    body = _halving_body(ctx)
    ctx.nodes.append(helper.make_node("Loop", ["", wide, strings], [joined], body=body))
    return ctx.add("Reshape", [joined, ctx.int64s(-1)])


def _halving_body(ctx: GraphContext) -> onnx.GraphProto:
    # Local names carry a "." that no spec identifier has, so that they never shadow a column
    # of the outer graph (onnx requires one assignment per name across scopes).
    zero, one, two = (ctx.constant(DType.INT, v) for v in (0, 1, 2))
    nodes = [
        helper.make_node("Shape", ["halving.acc_in"], ["halving.shape"]),
        helper.make_node("Gather", ["halving.shape", zero], ["halving.rows"]),
        helper.make_node("Gather", ["halving.shape", one], ["halving.width"]),
        helper.make_node("Mod", ["halving.width", two], ["halving.odd"]),
        helper.make_node("Unsqueeze", ["halving.rows", ctx.int64s(0)], ["halving.rows_1"]),
        helper.make_node("Unsqueeze", ["halving.odd", ctx.int64s(0)], ["halving.odd_1"]),
        helper.make_node(
            "Concat", ["halving.rows_1", "halving.odd_1"], ["halving.pad_shape"], axis=0
        ),
        helper.make_node(
            "Expand", [ctx.constant(DType.STRING, ""), "halving.pad_shape"], ["halving.pad"]
        ),
        helper.make_node("Concat", ["halving.acc_in", "halving.pad"], ["halving.even"], axis=1),
        helper.make_node(
            "Concat", ["halving.rows_1", ctx.int64s(-1, 2)], ["halving.pairs_shape"], axis=0
        ),
        helper.make_node("Reshape", ["halving.even", "halving.pairs_shape"], ["halving.pairs"]),
        helper.make_node("Gather", ["halving.pairs", zero], ["halving.left"], axis=2),
        helper.make_node("Gather", ["halving.pairs", one], ["halving.right"], axis=2),
        helper.make_node("StringConcat", ["halving.left", "halving.right"], ["halving.acc_out"]),
        helper.make_node("Add", ["halving.width", "halving.odd"], ["halving.padded_width"]),
        helper.make_node("Greater", ["halving.padded_width", two], ["halving.cond_out"]),
    ]
    return helper.make_graph(
        nodes,
        "halving_body",
        [
            helper.make_tensor_value_info("halving.i", TensorProto.INT64, []),
            helper.make_tensor_value_info("halving.cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("halving.acc_in", TensorProto.STRING, ["N", None]),
        ],
        [
            helper.make_tensor_value_info("halving.cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("halving.acc_out", TensorProto.STRING, ["N", None]),
        ],
    )


def _strip_spaces(node: Node, args: list[str], ctx: GraphContext) -> str:
    # No substring op exists: split on " ", then re-join the pieces from the first to the last
    # non-empty one with " " in a Loop. Rows of only spaces (or "") become "". A padding row "x"
    # keeps the split at least one piece wide: onnxruntime 1.20 fails in ReduceMax on a batch of
    # only "" (a [N, 0] split).
    flat = ctx.add(
        "Concat",
        [ctx.add("Reshape", [args[0], ctx.int64s(-1)]), ctx.vector(DType.STRING, ["x"])],
        axis=0,
    )
    pieces = ctx.fresh("pieces")
    ctx.nodes.append(
        helper.make_node("StringSplit", [flat], [pieces, ctx.fresh("counts")], delimiter=" ")
    )
    width = ctx.add("Gather", [ctx.add("Shape", [pieces]), ctx.constant(DType.INT, 1)])
    positions = ctx.add("Range", [ctx.constant(DType.INT, 0), width, ctx.constant(DType.INT, 1)])
    filled = logical_not(ctx.add("Equal", [pieces, ctx.constant(DType.STRING, "")]), ctx)
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
    unpadded = ctx.add("Slice", [joined, ctx.int64s(0), ctx.int64s(-1)])
    return ctx.add("Reshape", [unpadded, ctx.add("Shape", [args[0]])])


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


def _call(node: Node, args: list[str], ctx: GraphContext) -> str:
    routine = node.attr("routine")
    _define_routine(routine, ctx)
    return ctx.add(routine, args, hint=routine, domain=ROUTINE_DOMAIN)


def _define_routine(routine: str, ctx: GraphContext) -> None:
    """Add the routine's model-local function (and those it calls) to ctx.functions: its body
    emitted from the routine's IR (featuredsl.compiler.libm) by this backend's own emitters."""
    if routine in ctx.functions:
        return
    _, result = routine_body(routine)
    body = FunctionContext(reserved=frozenset({PARAMETER, "y"}), functions=ctx.functions)
    names = emit_nodes([result], body)
    for node in body.nodes:  # the node computing the result writes the function's output
        node.output[:] = ["y" if out == names[result] else out for out in node.output]
    ctx.functions[routine] = helper.make_function(
        ROUTINE_DOMAIN,
        routine,
        [PARAMETER],
        ["y"],
        body.nodes,
        opset_imports=_opsets(),
        doc_string=routine_docs(routine),
    )


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
    "floor": _rounding("Floor"),
    "ceil": _rounding("Ceil"),
    "round_even": _op("Round"),
    "abs": _op("Abs"),
    "minimum": _extremum("Min"),
    "maximum": _extremum("Max"),
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
    "not": lambda node, args, ctx: logical_not(args[0], ctx),
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
    "gather": lambda node, args, ctx: ctx.add("Gather", [args[1], args[0]], axis=0),
    "one_hot": _one_hot,
    "call": _call,
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
    freshness: Freshness | None = None
    source: str = ""  # the spec text, for each feature's source line in its nodes' doc_string
    # Window aggregates computed from the request's events, and their sources (docs/windows.md).
    sources: tuple[EventSource, ...] = ()
    windows: tuple[Window, ...] = ()


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


def emit_nodes(
    roots: Sequence[Node], ctx: GraphContext, names: dict[Node, str] | None = None
) -> dict[Node, str]:
    """Append the nodes computing `roots` to ctx; returns the graph value of every IR node
    (`names`: the values of nodes already emitted, extended in place)."""
    names = {} if names is None else names
    for node in walk(roots):
        if node in names:
            continue
        ctx.signs[node] = signs_of(node, ctx.signs)
        ctx.ranges[node] = int_range(node, ctx.ranges)
        if node.op == "input":
            column, role = node.attr("name"), node.attr("role")
            names[node] = column if role in ("value", "parameter") else contract.mask_name(column)
            continue
        if node.op in UNSUPPORTED:
            raise ValueError(f"onnx backend cannot emit {node.op!r}: {UNSUPPORTED[node.op]}")
        names[node] = EMITTERS[node.op](node, [names[a] for a in node.args], ctx)
    return names


def _used_initializers(ctx: GraphContext) -> list[onnx.TensorProto]:
    """Initializers some node (or Loop body) reads; e.g. vocabularies live in attributes."""
    used = {name for n in ctx.nodes for name in n.input}
    used |= {
        name
        for n in ctx.nodes
        for a in n.attribute
        if a.g.node
        for sub in a.g.node
        for name in sub.input
    }
    return [
        numpy_helper.from_array(array, name) for name, array in ctx.initializers if name in used
    ]


def _opsets(functions: bool = True) -> list[onnx.OperatorSetIdProto]:
    opsets = [
        helper.make_opsetid("", OPSET),
        helper.make_opsetid("ai.onnx.ml", ML_OPSET),
        helper.make_opsetid("com.microsoft", MS_OPSET),
    ]
    if functions:
        opsets.append(helper.make_opsetid(ROUTINE_DOMAIN, ROUTINE_OPSET))
    return opsets


def _model(graph: onnx.GraphProto, ctx: GraphContext) -> onnx.ModelProto:
    return helper.make_model(
        graph,
        opset_imports=_opsets(bool(ctx.functions)),
        functions=list(ctx.functions.values()),
        ir_version=IR_VERSION,
        producer_name="featuredsl",
        producer_version=__version__,
    )


def build_values_model(inputs: Sequence[InputColumn], nodes: Sequence[Node]) -> onnx.ModelProto:
    """A graph whose outputs value0, value1, ... are the given IR nodes in their own dtype (the
    per-op conformance tests run each primitive this way, without the float64 feature matrix)."""
    ctx = GraphContext(reserved=input_names(inputs))
    names = emit_nodes(nodes, ctx)
    outputs = []
    for index, node in enumerate(nodes):
        ctx.nodes.append(helper.make_node("Identity", [names[node]], [f"value{index}"]))
        width = node.type.width if node.op == "one_hot" else None
        outputs.append(_value_info(f"value{index}", node.dtype, 2 if width else 1, width))
    graph = helper.make_graph(
        ctx.nodes,
        "values",
        graph_inputs(inputs),
        outputs,
        _used_initializers(ctx),
        value_info=ctx.value_infos,
    )
    return _model(graph, ctx)


def input_names(inputs: Sequence[InputColumn]) -> frozenset[str]:
    """The names a graph's inputs take: every column's, and the masks of the nullable ones."""
    return frozenset(n for c in inputs for n in (c.name, c.mask_name) if n is not None)


def build_model(spec: GraphSpec) -> onnx.ModelProto:
    event_columns = events.event_inputs(spec.sources, spec.windows)
    used_sources = [s for s in spec.sources if any(w.source == s.name for w in spec.windows)]
    reserved = input_names([*spec.inputs, *event_columns, *(w.input for w in spec.windows)])
    ctx = GraphContext(reserved=reserved | {s.offsets_name for s in used_sources})
    names: dict[Node, str] = {}
    if spec.windows:
        assert spec.freshness is not None, "windows end at the prediction time"
        events.emit_window_stage(
            ctx,
            spec.sources,
            spec.windows,
            spec.freshness.time,
            lambda roots: emit_nodes(roots, ctx, names),
        )
    source = spec.source.splitlines()
    for label, node in spec.outputs:  # each feature's nodes named after it, with its spec line
        first = len(ctx.nodes)
        ctx.prefix = re.sub(r"[^A-Za-z0-9_]", "_", label) + "."
        emit_nodes([node], ctx, names)
        line = node.span.line
        text = source[line - 1].strip() if 0 < line <= len(source) else ""
        for emitted in ctx.nodes[first:]:
            emitted.doc_string = f"feature {label}" + (
                f", spec line {line}: {text}" if text else ""
            )
    ctx.prefix = ""
    stacked = _stack_columns([(names[node], node.op == "one_hot") for _, node in spec.outputs], ctx)
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
    graph = helper.make_graph(
        ctx.nodes,
        _graph_name(spec.spec_name),
        graph_inputs(spec.inputs) + [i for s in used_sources for i in events.source_inputs(s)],
        [output],
        _used_initializers(ctx),
        value_info=ctx.value_infos,
    )
    model = _model(graph, ctx)
    metadata = {
        contract.KEY_FINGERPRINT: spec.fingerprint,
        contract.KEY_FEATURE_NAMES: json.dumps(list(spec.column_names), ensure_ascii=False),
        contract.KEY_VERSION: __version__,
        contract.KEY_SPEC: spec.spec_name,
        # The request schema, machine-readable for callers in any language (as in bundles).
        contract.KEY_INPUTS: json.dumps(
            [{"name": c.name, "dtype": str(c.dtype), "nullable": c.nullable} for c in spec.inputs],
            ensure_ascii=False,
        ),
    }
    if used_sources:
        metadata[contract.KEY_EVENTS] = json.dumps(
            [s.to_json() for s in used_sources], ensure_ascii=False
        )
    if spec.freshness is not None:
        metadata[contract.KEY_FRESHNESS] = json.dumps(spec.freshness.to_json(), ensure_ascii=False)
    helper.set_model_props(model, metadata)
    return model


def _stack_columns(columns: Sequence[tuple[str, bool]], ctx: GraphContext) -> str:
    """The [N, F] output from the feature values in order: [N] columns, or [N, k] matrices
    (one_hot) where the flag is set. Each run of [N] columns is one Concat into a [k * N] vector
    reshaped to [k, N]; matrices are transposed to [k, N]; the blocks are stacked and the [F, N]
    result transposed once: a few nodes for the whole output instead of an Unsqueeze per column
    (each node costs a kernel launch on every call, which dominates a one-row request)."""
    blocks: list[str] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            flat = ctx.add("Concat", run, hint="columns", axis=0) if len(run) > 1 else run[0]
            blocks.append(ctx.add("Reshape", [flat, ctx.int64s(len(run), -1)], hint="block"))
            run.clear()

    for value, matrix in columns:
        if matrix:
            close_run()
            blocks.append(ctx.add("Transpose", [value], hint="block", perm=[1, 0]))
        else:
            run.append(value)
    close_run()
    by_feature = (
        ctx.add("Concat", blocks, hint="by_feature", axis=0) if len(blocks) > 1 else blocks[0]
    )
    return ctx.add("Transpose", [by_feature], hint="stacked", perm=[1, 0])


def _graph_name(spec_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", spec_name) or "features"


def check_model(model: onnx.ModelProto) -> None:
    """onnx's full checker (with shape inference); raises onnx.checker.ValidationError."""
    onnx.checker.check_model(model, full_check=True)


def is_nan(value: float) -> bool:
    return math.isnan(value)
