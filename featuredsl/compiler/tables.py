"""Tables for pure functions of small integer domains: an IR rewrite both artifacts share.

A sub-expression whose only varying input is an integer with a small known range (an hour of the
day, a day of the week, a bucket or vocabulary index) is computed once, when the artifacts are
built, over every value of that range, by the numpy module's own code (the `evaluate` passed
in), and replaced by `gather(index, table)`. `sin(2 * pi * hour(ts) / 24)` becomes a 24-entry
table and one gather instead of some forty exact operations per row, in the module and in the
graph alike. The table holds the very values the replaced operations compute (they are exact
IEEE operations, the same on any number of elements), so the outputs keep their bits.

Ranges come from a small interval analysis (`int_range`): `x % c` and `x // c` by a positive
literal, lookups, bucket indices, bools cast to int, sums and products of known ranges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from featuredsl.compiler.ir import Builder, InputColumn, Node, constant_value, substitute, walk
from featuredsl.compiler.op import INT64_MAX, INT64_MIN
from featuredsl.compiler.primitives import ULP_BOUND
from featuredsl.compiler.types import DType, Shape, Type

MAX_DOMAIN = 4096  # values of the index a table may cover
MIN_OPERATIONS = 3  # operations a table must replace to be worth a gather
DOMAIN_COLUMN = "domain"  # the input column name the evaluator sees for the index
# Not tabulated: the inexact primitives (numpy and onnxruntime differ by some ULP, see
# primitives.ULP_BOUND), whose table would change the graph's values, and the leaves.
UNTABULATED_OPS = frozenset({*ULP_BOUND, "input", "fitted"})

Range = tuple[int, int]
# Values of IR nodes over one int column: (inputs, nodes, {column: list of ints}) -> arrays.
TableEvaluator = Callable[
    [Sequence[InputColumn], Sequence[Node], Mapping[str, list[int]]], Sequence[object]
]


def int_range(node: Node, known: Mapping[Node, Range | None]) -> Range | None:
    """The closed range [low, high] of an int or timestamp `node`'s values, or None if unknown.

    `known` holds the ranges of the node's arguments. Overflowing arithmetic gives None."""
    op, args = node.op, node.args
    if node.dtype not in (DType.INT, DType.TIMESTAMP) or node.shape is Shape.LIST:
        return None
    if op == "const":
        value = int(constant_value(node))
        return value, value
    if op == "list_size":
        return len(args[0].attr("values")), len(args[0].attr("values"))
    if op == "lookup":
        return -1, len(args[1].attr("values")) - 1
    if op == "bucketize":
        return 0, len(args[1].attr("values"))
    if op == "gather" and args[1].op == "list_const":
        values = [int(v) for v in constant_value(args[1])]
        return (min(values), max(values)) if values else None
    if op == "to_int" and args[0].dtype is DType.BOOL:
        return 0, 1
    if op == "to_int" and args[0].dtype is DType.TIMESTAMP:
        return known[args[0]]
    if op == "broadcast":
        return known[args[0]]
    divisor = _positive_literal(args[1]) if op in ("int_mod", "int_floordiv") else None
    if op == "int_mod" and divisor is not None:
        return 0, divisor - 1
    ranges = [known.get(a) for a in args]
    if op == "int_floordiv" and divisor is not None and ranges[0] is not None:
        return ranges[0][0] // divisor, ranges[0][1] // divisor
    if any(r is None for r in ranges) or not ranges:
        return None
    bounds: list[Range] = [r for r in ranges if r is not None]
    if op == "where":
        return _checked(min(bounds[1][0], bounds[2][0]), max(bounds[1][1], bounds[2][1]))
    if op in ("add", "sub", "mul") and len(bounds) == 2:
        (a, b), (c, d) = bounds
        if op == "add":
            return _checked(a + c, b + d)
        if op == "sub":
            return _checked(a - d, b - c)
        products = (a * c, a * d, b * c, b * d)
        return _checked(min(products), max(products))
    if op == "neg":
        return _checked(-bounds[0][1], -bounds[0][0])
    if op in ("minimum", "maximum") and len(bounds) == 2:
        pick = min if op == "minimum" else max
        return pick(bounds[0][0], bounds[1][0]), pick(bounds[0][1], bounds[1][1])
    return None


def _positive_literal(node: Node) -> int | None:
    if node.op == "const" and node.dtype is DType.INT and int(constant_value(node)) > 0:
        return int(constant_value(node))
    return None


def _checked(low: int, high: int) -> Range | None:
    return (low, high) if low >= INT64_MIN and high <= INT64_MAX else None


@dataclass(frozen=True)
class Table:
    """`root` is a function of `index` alone, over index values low..high."""

    root: Node
    index: Node
    low: int
    high: int


def find_tables(roots: Sequence[Node]) -> list[Table]:
    """The largest sub-expressions of `roots` that are pure functions of one small-range integer
    and replace at least MIN_OPERATIONS operations, in dependency order."""
    ranges: dict[Node, Range | None] = {}
    source: dict[Node, Node | None] = {}  # the one varying index a node is a function of
    constant: dict[Node, bool] = {}
    consumers: dict[Node, list[Node]] = {}
    order = list(walk(roots))
    for node in order:
        ranges[node] = int_range(node, ranges)
        for arg in node.args:
            consumers.setdefault(arg, []).append(node)
        constant[node] = node.op in ("const", "list_const") or (
            bool(node.args)
            and node.op not in UNTABULATED_OPS
            and all(constant[a] for a in node.args)
        )
        sources = {source[a] for a in node.args if not constant[a]}
        if constant[node]:
            source[node] = None
        elif len(sources) == 1 and None not in sources and _tabulable(node):
            source[node] = sources.pop()
        elif node.shape is Shape.ROW and node.dtype is DType.INT and _small(ranges[node]):
            source[node] = node
        else:
            source[node] = None
    root_set = set(roots)
    tables = []
    for node in order:
        index = source[node]
        if index is None or index is node or node.dtype is DType.STRING:
            continue
        if node not in root_set and all(source[c] is index for c in consumers.get(node, [])):
            continue  # a larger table covers it
        if _operations(node, index) >= MIN_OPERATIONS:
            low, high = ranges[index] or (0, -1)
            tables.append(Table(node, index, low, high))
    return tables


def _tabulable(node: Node) -> bool:
    return (
        node.op not in UNTABULATED_OPS
        and node.shape is Shape.ROW
        and node.op != "one_hot"
        and node.type.width == 1
    )


def _small(value_range: Range | None) -> bool:
    return value_range is not None and value_range[1] - value_range[0] < MAX_DOMAIN


def _operations(root: Node, index: Node) -> int:
    """Operations computed per row between `index` and `root` (constants do not count)."""
    seen: set[int] = set()
    stack = [root]
    count = 0
    while stack:
        node = stack.pop()
        if id(node) in seen or node is index or node.op in ("const", "list_const"):
            continue
        seen.add(id(node))
        count += 1
        stack.extend(node.args)
    return count


def tabulate(roots: Sequence[Node], evaluate: TableEvaluator) -> list[Node]:
    """`roots` with every table of `find_tables` in place: `gather(index - low, table)`.

    `evaluate` computes IR nodes over one int column named DOMAIN_COLUMN (the numpy backend's
    code, so the table holds what the module computes). A table with a NaN entry is left as
    operations (a NaN's sign and payload are not part of a list constant)."""
    builder = Builder()
    replacements: dict[Node, Node] = {}
    for table in find_tables(roots):
        column = builder.node(
            "input", (), Type(DType.INT), {"name": DOMAIN_COLUMN, "role": "value"}
        )
        index = table.index
        over_domain = substitute([table.root], {table.index: column}, builder)[table.root]
        domain = list(range(table.low, table.high + 1))
        inputs = [InputColumn(DOMAIN_COLUMN, DType.INT, False)]
        (values,) = evaluate(inputs, [over_domain], {DOMAIN_COLUMN: domain})
        items = [_item(table.root.dtype, v) for v in _as_list(values, len(domain))]
        if any(item != item for item in items):  # NaN
            continue
        if table.low != 0:
            index = builder.node(
                "sub", (index, builder.const(DType.INT, table.low)), Type(DType.INT)
            )
        constants = builder.list_const(table.root.dtype, items, table.root.span)
        replacements[table.root] = builder.node(
            "gather", (index, constants), table.root.type, span=table.root.span
        )
    if not replacements:
        return list(roots)
    mapping = substitute(roots, replacements, builder)
    return [mapping[root] for root in roots]


def _as_list(values: object, size: int) -> list[object]:
    items = values.tolist() if hasattr(values, "tolist") else values
    if not isinstance(items, list):  # a scalar (a value that ignores its index)
        items = [items] * size
    return items


def _item(dtype: DType, value: object) -> object:
    if dtype is DType.FLOAT:
        return float(value)  # type: ignore[arg-type]
    if dtype is DType.BOOL:
        return bool(value)
    return int(value)  # type: ignore[call-overload]
