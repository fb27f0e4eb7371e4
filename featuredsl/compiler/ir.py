"""The typed IR: a DAG of frozen nodes, shared by construction (common subexpressions are one node).

Every node is a primitive both backends implement (see backends/*). Null handling is explicit:
a nullable non-float value travels as two nodes, its values and a bool mask (True = null);
a nullable float travels as one node whose NaN is null. Surface ops (featuredsl.compiler.ops)
are lowered to these primitives (featuredsl.compiler.primitives.Prim).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from featuredsl.artifact.contract import mask_name
from featuredsl.compiler.primitives import Prim
from featuredsl.compiler.types import DType, Shape, Type
from featuredsl.language.diagnostics import Span

NO_SPAN = Span.unknown()


@dataclass(frozen=True, eq=False)
class Node:
    op: Prim
    args: tuple[Node, ...]
    attrs: tuple[tuple[str, Any], ...]
    type: Type
    span: Span = field(default=NO_SPAN, repr=False)
    _key: tuple[Any, ...] = field(init=False, repr=False)
    _hash: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Children are interned, so identity stands for structure and equality stays O(1).
        key = (self.op, tuple(id(a) for a in self.args), self.attrs, self.type)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and self._key == other._key

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        # Shallow on purpose: the DAG shares nodes, and a recursive repr is exponential in depth.
        args = ", ".join(a.op for a in self.args)
        return f"Node({self.op}({args}) -> {self.type}, attrs={dict(self.attrs)})"

    def attr(self, name: str) -> Any:
        for key, value in self.attrs:
            if key == name:
                return value
        raise KeyError(f"{self.op} has no attribute {name!r}")

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    @property
    def shape(self) -> Shape:
        return self.type.shape


# encode_constant of one dtype, as a function of the value alone (for map over a long list).
ENCODE_ITEM: dict[DType, Callable[[Any], Any]] = {
    DType.FLOAT: lambda value: float(value).hex(),
    DType.INT: int,
    DType.TIMESTAMP: int,
    DType.BOOL: bool,
    DType.STRING: str,
}


def encode_constant(dtype: DType, value: Any) -> Any:
    """A hashable, exact encoding: floats as hex so that -0.0 and 0.0 (and NaNs) stay distinct."""
    return ENCODE_ITEM[dtype](value)


def decode_constant(dtype: DType, encoded: Any) -> Any:
    if dtype is DType.FLOAT:
        return float.fromhex(encoded)
    return encoded


def constant_value(node: Node) -> Any:
    """The Python value of a const node (scalar) or list_const node (tuple)."""
    if node.op == "const":
        return decode_constant(node.dtype, node.attr("value"))
    if node.op == "list_const":
        values = node.attr("values")
        if node.dtype is not DType.FLOAT:  # stored as they are: no copy of a long vocabulary
            return tuple(values)
        return tuple(float.fromhex(v) for v in values)
    raise ValueError(f"not a constant: {node.op}")


class Builder:
    """Interns nodes so that equal subexpressions are the same object."""

    def __init__(self) -> None:
        self._pool: dict[Node, Node] = {}

    def node(
        self,
        op: Prim | str,
        args: Iterable[Node],
        type_: Type,
        attrs: dict[str, Any] | None = None,
        span: Span = NO_SPAN,
    ) -> Node:
        items = tuple(sorted((attrs or {}).items()))
        candidate = Node(Prim.named(op), tuple(args), items, type_, span)
        return self._pool.setdefault(candidate, candidate)

    def const(self, dtype: DType, value: Any, span: Span = NO_SPAN) -> Node:
        if dtype is DType.FLOAT and not isinstance(value, float):
            value = float(value)
        return self.node(
            "const", (), Type(dtype, Shape.SCALAR), {"value": encode_constant(dtype, value)}, span
        )

    def list_const(self, dtype: DType, values: Iterable[Any], span: Span = NO_SPAN) -> Node:
        encoded = tuple(map(ENCODE_ITEM[dtype], values))
        return self.node("list_const", (), Type(dtype, Shape.LIST, None), {"values": encoded}, span)


def walk(roots: Iterable[Node]) -> Iterator[Node]:
    """Nodes in dependency order (children before parents), each once."""
    seen: set[int] = set()
    order: list[Node] = []
    stack: list[tuple[Node, bool]] = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, expanded = stack.pop()
        if id(node) in seen:
            continue
        if expanded:
            seen.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for child in reversed(node.args):
            if id(child) not in seen:
                stack.append((child, False))
    return iter(order)


def substitute(
    roots: Iterable[Node], replacements: dict[Node, Node], builder: Builder
) -> dict[Node, Node]:
    """Rebuild the DAG with some nodes replaced; returns old -> new for every node reached."""
    mapping: dict[Node, Node] = {}
    for node in walk(roots):
        if node in replacements:
            mapping[node] = replacements[node]
            continue
        args = tuple(mapping[a] for a in node.args)
        if all(a is b for a, b in zip(args, node.args, strict=True)):
            mapping[node] = node
        else:
            mapping[node] = builder.node(node.op, args, node.type, dict(node.attrs), node.span)
    return mapping


def is_finite_float(value: float) -> bool:
    return math.isfinite(value)


@dataclass(frozen=True)
class InputColumn:
    name: str
    dtype: DType
    nullable: bool

    @property
    def mask_name(self) -> str | None:
        """The companion null-mask input: only for nullable non-float columns (floats use NaN)."""
        if self.nullable and self.dtype is not DType.FLOAT:
            return mask_name(self.name)
        return None


@dataclass(frozen=True)
class AsOf:
    """The freshness declaration of one input column.

    `as_of` names the timestamp column holding the time the value was computed or loaded;
    the value's age is prediction time - as-of time, int64 microseconds. `max_age` is the
    budget in microseconds (None: ages are recorded, no budget); `stale` is the policy for a
    value older than `max_age` or from the future: "refuse" (the serving Session refuses the
    request) or "null" (both artifacts treat the value as null)."""

    column: str
    as_of: str
    max_age: int | None = None
    stale: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "as_of": self.as_of,
            "max_age_us": self.max_age,
            "stale": self.stale,
        }


@dataclass(frozen=True)
class Freshness:
    """A spec's time declarations: the prediction-time column and each input's as-of column."""

    time: str
    inputs: tuple[AsOf, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "inputs": [a.to_json() for a in self.inputs]}

    @staticmethod
    def from_json(data: Any) -> Freshness | None:
        """The inverse of `to_json` (None for None); KeyError/TypeError/ValueError if malformed."""
        if data is None:
            return None
        inputs = tuple(
            AsOf(
                str(i["column"]),
                str(i["as_of"]),
                None if i["max_age_us"] is None else int(i["max_age_us"]),
                None if i["stale"] is None else str(i["stale"]),
            )
            for i in data["inputs"]
        )
        for item in inputs:
            if item.stale not in (None, "refuse", "null"):
                raise ValueError(f"unknown freshness policy {item.stale!r}")
        return Freshness(str(data["time"]), inputs)


@dataclass(frozen=True)
class EventSource:
    """`events NAME by KEY lag L { ... }`: a table of events keyed by the input column `key`.

    `time` names the event-time column (a timestamp, int64 microseconds UTC); `columns` are
    the declared event columns (time included); `lag` is in microseconds. The request encoding
    (docs/windows.md) carries `<name>.offsets` (int64, rows + 1) and one `<name>.<column>`
    array per column (and a `.is_null` mask for a nullable non-float column)."""

    name: str
    key: str
    time: str
    columns: tuple[InputColumn, ...]
    lag: int = 0

    @property
    def offsets_name(self) -> str:
        return f"{self.name}.offsets"

    def column_name(self, column: str) -> str:
        """The request (and IR input) name of an event column: `source.column`."""
        return f"{self.name}.{column}"

    @property
    def event_inputs(self) -> tuple[InputColumn, ...]:
        """The event columns as request inputs, each named `source.column`."""
        return tuple(
            InputColumn(self.column_name(c.name), c.dtype, c.nullable) for c in self.columns
        )

    @staticmethod
    def from_json(data: Any) -> EventSource:
        """The inverse of `to_json`; KeyError/TypeError/ValueError if malformed."""
        columns = tuple(
            InputColumn(str(c["name"]), DType(c["dtype"]), bool(c["nullable"]))
            for c in data["columns"]
        )
        return EventSource(
            str(data["name"]), str(data["key"]), str(data["time"]), columns, int(data["lag_us"])
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "time": self.time,
            "lag_us": self.lag,
            "columns": [
                {"name": c.name, "dtype": str(c.dtype), "nullable": c.nullable}
                for c in self.columns
            ],
        }


@dataclass(frozen=True)
class Window:
    """One window aggregate over an event source, read by the row IR as the derived input
    column `column` (with a `.is_null` mask when `nullable` and not a float): a name such as
    `purchases.sum.amount.30d` (`.where2` for the second filtered window of the source).

    The window of a row with prediction time T holds the source's events with
    T - lag - length <= event time < T - lag (microseconds); `where` is a bool IR node over the
    source's event inputs (`source.column`), or None; `value` the aggregated event column (None:
    counting events). docs/windows.md has the semantics of each `kind`."""

    column: str
    text: str  # the call as the canonical spec writes it
    source: str
    kind: str
    value: str | None
    value_dtype: DType | None
    dtype: DType
    nullable: bool
    length: int
    lag: int
    where: Node | None = None
    rank: int = 0  # n of window_nth_last (0 for the other kinds)

    @property
    def input(self) -> InputColumn:
        """The derived input column the row IR reads. A float one may hold NaN even when the
        aggregate is not nullable (a float sum of +inf and -inf is NaN, in every path)."""
        return InputColumn(self.column, self.dtype, self.nullable or self.dtype is DType.FLOAT)

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "expression": self.text,
            "source": self.source,
            "kind": self.kind,
            "value": self.value,
            "dtype": str(self.dtype),
            "nullable": self.nullable,
            "length_us": self.length,
            "lag_us": self.lag,
            "filtered": self.where is not None,
            **({"rank": self.rank} if self.rank else {}),
        }


@dataclass(frozen=True)
class Feature:
    name: str
    node: Node  # FLOAT-typed output: one column, or `width` columns for multi-column ops
    dtype: DType  # the declared result type before the cast to float64 output
    column_names: tuple[str, ...] | None  # None until fitted for vocabulary-sized features
    inputs_used: tuple[str, ...]
    nullable_inputs_used: tuple[str, ...]
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Program:
    """A checked spec: inputs, features in declaration order, and the IR behind them."""

    name: str
    inputs: tuple[InputColumn, ...]
    features: tuple[Feature, ...]
    canonical_source: str
    source: str = field(
        default="", compare=False, repr=False
    )  # the text as written, for diagnostics
    filename: str = field(default="<spec>", compare=False, repr=False)
    freshness: Freshness | None = None
    sources: tuple[EventSource, ...] = ()
    windows: tuple[Window, ...] = ()

    @property
    def roots(self) -> tuple[Node, ...]:
        return tuple(f.node for f in self.features)

    @property
    def window_inputs(self) -> tuple[InputColumn, ...]:
        """The derived input columns of the window aggregates, in declaration order."""
        return tuple(window.input for window in self.windows)

    @property
    def row_inputs(self) -> tuple[InputColumn, ...]:
        """What the row IR reads: the declared inputs, then the window aggregates' columns (the
        training backfill provides those; the serving artifacts compute them from events)."""
        return self.inputs + self.window_inputs

    def analyzers(self) -> list[Node]:
        return [n for n in walk(self.roots) if n.op == "fitted"]

    @property
    def is_fitted(self) -> bool:
        return not self.analyzers()

    @property
    def feature_columns(self) -> tuple[str, ...]:
        names: list[str] = []
        for feature in self.features:
            if feature.column_names is None:
                raise ValueError("feature columns are known after fitting")
            names.extend(feature.column_names)
        return tuple(names)
