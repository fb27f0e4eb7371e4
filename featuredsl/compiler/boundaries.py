"""What a fitted program's boundaries are, read off the IR: the constant pool and ULP bounds.

The constant pool lists every value a feature compares with, clips to, buckets or looks up by
(literal or fitted), every string constant and round() digit count. The parity edge cases are
built from it (values on and one ULP beside each boundary), and the manifest stores it so that
any build directory can be checked without the spec. The ULP bound of a column is the largest
bound of the primitives behind it (`primitives.ULP_BOUND`; 0 = bit-identical).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

from featuredsl.compiler.ir import Feature, Node, Program, constant_value, walk
from featuredsl.compiler.libm import called_routines, routine_body
from featuredsl.compiler.primitives import ULP_BOUND
from featuredsl.compiler.types import DType


def feature_bounds(features: Sequence[Feature]) -> list[int]:
    """The ULP bound of every output column, in output order."""
    bounds: list[int] = []
    for feature in features:
        ops = {node.op for node in walk([feature.node])}
        bound = max((ULP_BOUND[op] for op in ops if op in ULP_BOUND), default=0)
        bounds.extend([bound] * len(feature.column_names or ()))
    return bounds


BOUNDARY_OPS = frozenset(
    {"lt", "le", "gt", "ge", "eq", "ne", "minimum", "maximum", "bucketize", "lookup"}
)


def constant_pool(program: Program) -> dict[str, list[Any]]:
    """The boundaries of the IR: constants compared with, clipped to, bucketed or looked up by
    (literal or fitted), every string constant, and round() digit counts. Coefficients inside
    lowered formulas are not boundaries and stay out."""
    pool: dict[str, list[Any]] = {"float": [], "int": [], "string": [], "round_digits": []}
    bodies = [routine_body(name)[1] for name in called_routines(program.roots)]
    for node in walk([*program.roots, *bodies]):  # a routine's boundaries are its call's
        if node.op in BOUNDARY_OPS:
            for arg in node.args:
                _collect_constant(arg, pool)
        if node.op == "const" and node.dtype is DType.STRING:
            _collect_constant(node, pool)
        for name in ("text", "pattern"):
            if any(k == name for k, _ in node.attrs):
                pool["string"].append(node.attr(name))
        if node.op == "round_even" and node.args and node.args[0].op in ("mul", "div"):
            scale = node.args[0].args[1]
            digits = _power_of_ten(constant_value(scale)) if scale.op == "const" else None
            if digits is not None:
                pool["round_digits"].append(digits if node.args[0].op == "mul" else -digits)
    return {k: sorted(set(v), key=_sort_key) for k, v in pool.items()}


MAX_DIGITS = 308  # 10.0**d overflows above 308


def _power_of_ten(scale: Any) -> int | None:
    """The digit count d whose 10**d is nearest |scale| in magnitude (exact for the scales
    round(x, n) lowers to; a user's `round(x / 7)` or libm's range reduction get the nearest
    one, as before), or None for a scale with no magnitude (0, inf, NaN). Total over every
    constant a spec can contain, so that any valid spec builds: the sign is dropped (log10 of
    the user's -7 was a math domain error) and the count is clamped to what a double holds."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        return None
    magnitude = abs(float(scale))
    if not (math.isfinite(magnitude) and magnitude > 0.0):
        return None
    return max(-MAX_DIGITS, min(MAX_DIGITS, round(math.log10(magnitude))))


def _collect_constant(node: Node, pool: dict[str, list[Any]]) -> None:
    if node.op not in ("const", "list_const"):
        return
    values = constant_value(node)
    values = sample_boundaries(values) if isinstance(values, tuple) else (values,)
    key = {
        DType.FLOAT: "float",
        DType.INT: "int",
        DType.TIMESTAMP: "int",
        DType.STRING: "string",
    }.get(node.dtype)
    if key:
        pool[key].extend(v for v in values if not (isinstance(v, float) and math.isnan(v)))


SAMPLED_ITEMS = 256  # at most this many items of one list constant become boundaries
END_ITEMS = 8  # the first and the last items of a list are always kept


def sample_boundaries(values: tuple[Any, ...], limit: int = SAMPLED_ITEMS) -> tuple[Any, ...]:
    """`limit` items of a list constant (all of a shorter one), so that the edge cases grow with
    the spec and not with a fitted vocabulary or a long list of quantiles. Deterministic; kept: the first and
    last END_ITEMS (the most frequent entries and the cut-off of a vocabulary, the outer
    boundaries), the first item of every boundary class (`boundary_class`: empty, padded,
    non-ASCII, case, digits, length; sign, magnitude, -0.0, subnormal, inf), then evenly spaced
    items up to the limit."""
    if len(values) <= limit:
        return values
    ends = [*range(END_ITEMS), *range(len(values) - END_ITEMS, len(values))]
    chosen = dict.fromkeys(ends)
    seen = set(boundary_classes([values[i] for i in ends]))
    for index, kind in enumerate(boundary_classes(values)):
        if len(chosen) >= limit:
            break
        if kind not in seen:
            seen.add(kind)
            chosen[index] = None
    spaced = iter(range(0, len(values), max(1, len(values) // limit)))
    while len(chosen) < limit:
        chosen.setdefault(next(spaced))
    return tuple(values[i] for i in sorted(chosen))


def boundary_class(value: Any) -> tuple[Any, ...]:
    """The kind of a boundary, as far as the runtimes can tell kinds apart."""
    return next(iter(boundary_classes((value,))))


def boundary_classes(values: Sequence[Any]) -> Iterable[tuple[Any, ...]]:
    """`boundary_class` of every value, a column of tests at a time so that the loops run in C
    (a million strings in a fraction of a second): strings by length, padding, ASCII, case,
    letters, digits and characters beyond the BMP (surrogate pairs in UTF-16); ints by sign and
    magnitude; floats by sign, zero, subnormal, integral, magnitude, and inf."""
    if all(isinstance(v, str) for v in values):
        return zip(
            map(int.bit_length, map(len, values)),
            map(operator.ne, values, map(str.strip, values)),
            map(str.isascii, values),
            map(str.isupper, values),
            map(str.islower, values),
            map(str.isalpha, values),
            map(str.isdigit, values),
            map(operator.gt, map(max, map(operator.add, values, repeat(" "))), repeat("\uffff")),
            strict=True,
        )
    return map(_number_class, values)


def _number_class(value: Any) -> tuple[Any, ...]:
    if isinstance(value, bool):
        return (value,)
    if isinstance(value, int):
        return (value < 0, abs(value).bit_length() // 8)
    number = float(value)
    if not math.isfinite(number):
        return (repr(number),)
    return (
        math.copysign(1.0, number) < 0,
        number == 0.0,
        0.0 < abs(number) < 2.2250738585072014e-308,
        number.is_integer(),
        math.frexp(number)[1] // 64,
    )


def _sort_key(value: Any) -> tuple[str, Any]:
    if isinstance(value, float):
        return ("f", float.hex(value))
    return (type(value).__name__, value)
