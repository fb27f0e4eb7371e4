"""The primitive IR ops every backend implements, with their one written semantics.

Surface ops (featuredsl.compiler.catalogue) lower to these. Binary ops broadcast a scalar against a row.
The parity tolerance of each primitive is in `ULP_BOUND` (None = bit-identical).
"""

from __future__ import annotations

PRIMITIVES: dict[str, str] = {
    # leaves
    "input": "a declared column (attr role: 'value' or 'mask')",
    "const": "a scalar constant",
    "list_const": "a constant vector",
    "broadcast": "repeat a scalar for every row of the second argument",
    # arithmetic (float: IEEE-754 binary64; int: int64 wrapping modulo 2**64)
    "add": "a + b",
    "sub": "a - b",
    "mul": "a * b",
    "div": "a / b, float only (IEEE: x/0 = +-inf, 0/0 = NaN)",
    "neg": "-a",
    "int_floordiv": "floor(a / b) on int64; b == 0 gives 0; INT64_MIN // -1 gives INT64_MIN",
    "int_mod": "a - b * floor(a / b) on int64 (sign of b); b == 0 gives 0",
    "floor": "round toward -inf (float)",
    "ceil": "round toward +inf (float)",
    "round_even": "round to the nearest integer, ties to even (float)",
    "abs": "absolute value",
    "minimum": "elementwise minimum; NaN if either is NaN",
    "maximum": "elementwise maximum; NaN if either is NaN",
    "sqrt": "correctly rounded square root",
    "pow": "a ** b (float)",
    # comparison and logic
    "eq": "a == b",
    "ne": "a != b",
    "lt": "a < b",
    "le": "a <= b",
    "gt": "a > b",
    "ge": "a >= b",
    "and": "a and b",
    "or": "a or b",
    "not": "not a",
    "where": "b where condition else c",
    "isnan": "x is NaN",
    # conversions
    "to_float": "int64 or bool to float64 (round to nearest even beyond 2**53)",
    "to_int": "float64 to int64 truncating toward zero (argument already finite and in range); bool to 0/1; timestamp to its int64 microseconds",
    "to_string": "int64 as a decimal string",
    # strings (ASCII case mapping; code-point comparisons)
    "lower_ascii": "A-Z to a-z; other characters unchanged",
    "upper_ascii": "a-z to A-Z; other characters unchanged",
    "strip_spaces": "remove leading and trailing U+0020 spaces",
    "concat": "string concatenation",
    "starts_with": "x starts with the literal prefix",
    "ends_with": "x ends with the literal suffix",
    "contains": "x contains the literal text",
    "matches": "x fully matches the regular expression (portable subset)",
    "murmur3": "MurmurHash3_x86_32, seed 0, of the UTF-8 bytes, as a non-negative int",
    # categorical
    "lookup": "index of x in the constant keys, or -1",
    "list_size": "the number of items of a constant vector, as an int scalar",
    "bucketize": "number of boundaries <= x; NaN gives len(boundaries)",
    "one_hot": "width columns: 1.0 where the index equals the column number, else 0.0",
    # analyzers (replaced by constants at fit time)
    "fitted": "a statistic of the training data (attr analyzer)",
}

# Primitives whose two implementations differ by a few ULP (measured, see docs/parity.md).
# Every other primitive must be bit-identical between numpy and onnxruntime.
# log, exp, sin and cos are not primitives: featuredsl.compiler.lowering computes them from exactly
# rounded operations (fdlibm's algorithms), so they are bit-identical too. Only pow is left to the
# runtimes' libm (measured identical so far, see docs/parity.md).
ULP_BOUND: dict[str, int] = {
    "pow": 8,
}

LEAVES = frozenset({"input", "const", "list_const", "fitted"})
