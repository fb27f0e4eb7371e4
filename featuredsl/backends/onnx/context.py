"""The ONNX graph under construction: nodes, shared constants and fresh value names.

Every emitter of the ONNX backend appends to a `GraphContext` (featuredsl.backends.onnx.graph
for row features, .events and .windows for the window stage, .exact_sum for exact sums).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from featuredsl.backends.onnx.signs import Signs
from featuredsl.compiler.ir import Node
from featuredsl.compiler.tables import Range
from featuredsl.compiler.types import DType

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
    # Named arrays; only those a node reads become initializers (_used_initializers), so a
    # vocabulary that lives in a LabelEncoder's attributes is never serialized twice.
    initializers: list[tuple[str, np.ndarray]] = field(default_factory=list)
    signs: dict[Node, Signs] = field(default_factory=dict)  # which floats may be -0.0
    ranges: dict[Node, Range | None] = field(default_factory=dict)  # known int ranges
    # Types onnx cannot infer (outputs of com.microsoft ops that other ops' inference reads).
    value_infos: list[onnx.ValueInfoProto] = field(default_factory=list)
    # The graph's input names (columns and masks): no generated name may take one (a column
    # called `const_1` or `rows` is a valid spec).
    reserved: frozenset[str] = frozenset()
    # Model-local functions of the exact routines called (featuredsl.compiler.libm), by name,
    # callees before their callers; shared with the contexts that build their bodies.
    functions: dict[str, onnx.FunctionProto] = field(default_factory=dict)
    prefix: str = ""  # the feature being emitted, as the start of its value names
    _constants: dict[tuple[object, ...], str] = field(default_factory=dict)
    _count: int = 0

    def fresh(self, hint: str) -> str:
        while True:
            self._count += 1
            name = f"{hint}_{self._count}"
            if name not in self.reserved:
                return name

    def add(
        self,
        op: str,
        inputs: Sequence[str],
        hint: str | None = None,
        domain: str = "",
        **attrs: Any,
    ) -> str:
        output = self.fresh(self.prefix + (hint or op.lower()))
        self.nodes.append(
            helper.make_node(
                op, list(inputs), [output], name=output, domain=domain or None, **attrs
            )
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
            self.initializers.append((name, array))
            self._constants[key] = name
        return self._constants[key]


class FunctionContext(GraphContext):
    """The body of a model-local function: constants are Constant nodes (a function has no
    initializers)."""

    def _initializer(self, key: tuple[object, ...], array: np.ndarray) -> str:
        if key not in self._constants:
            name = self.fresh("const")
            value = numpy_helper.from_array(array, name)
            self.nodes.append(helper.make_node("Constant", [], [name], value=value))
            self._constants[key] = name
        return self._constants[key]


def _constant_key(dtype: DType, value: object) -> object:
    return float(value).hex() if dtype is DType.FLOAT else value  # type: ignore[arg-type]


def logical_not(value: str, ctx: GraphContext) -> str:
    """not value, as Xor(value, true): onnxruntime's NotWhereFusion (1.26 and later, from
    ORT_ENABLE_BASIC) removes a Not in front of a Where by swapping Where's inputs, which would
    move a -0.0 into the input that loses its sign."""
    return ctx.add("Xor", [value, ctx.constant(DType.BOOL, True)], hint="not")
