"""The primitive IR ops every backend implements, with their one written semantics.

Surface ops (featuredsl.compiler.registry) lower to these; the IR builder refuses any other name. Binary ops broadcast a scalar against a row.
The parity tolerance of each primitive is in `ULP_BOUND` (absent = bit-identical).
"""

from __future__ import annotations

import enum


class Prim(str, enum.Enum):
    """A primitive IR op. The value is its name in the IR; `doc` its one written semantics."""

    doc: str

    def __new__(cls, name: str, doc: str) -> Prim:
        member = str.__new__(cls, name)
        member._value_ = name
        member.doc = doc
        return member

    __str__ = str.__str__

    @classmethod
    def named(cls, name: str) -> Prim:
        """The primitive called `name`; ValueError for a name that is not a primitive."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"{name!r} is not a primitive op") from None

    # leaves
    INPUT = "input", "a declared column (attr role: 'value' or 'mask')"
    CONST = "const", "a scalar constant"
    LIST_CONST = "list_const", "a constant vector"
    BROADCAST = "broadcast", "repeat a scalar for every row of the second argument"
    # arithmetic (float: IEEE-754 binary64; int: int64 wrapping modulo 2**64)
    ADD = "add", "a + b"
    SUB = "sub", "a - b"
    MUL = "mul", "a * b"
    DIV = "div", "a / b, float only (IEEE: x/0 = +-inf, 0/0 = NaN)"
    NEG = "neg", "-a"
    INT_FLOORDIV = (
        "int_floordiv",
        "floor(a / b) on int64; b == 0 gives 0; INT64_MIN // -1 gives INT64_MIN",
    )
    INT_MOD = "int_mod", "a - b * floor(a / b) on int64 (sign of b); b == 0 gives 0"
    FMOD = (
        "fmod",
        "C fmod(a, b) on float64: exact remainder of a / b truncated toward zero, sign of a; NaN if b is 0 or a is infinite",
    )
    FLOOR = (
        "floor",
        "round toward -inf (float; a zero result keeps the sign of a: floor(-0.0) is -0.0)",
    )
    CEIL = (
        "ceil",
        "round toward +inf (float; a zero result keeps the sign of a: ceil(-0.5) is -0.0)",
    )
    ROUND_EVEN = "round_even", "round to the nearest integer, ties to even (float)"
    ABS = "abs", "absolute value"
    MINIMUM = (
        "minimum",
        "elementwise minimum; NaN if either is NaN; -0.0 is below 0.0 (IEEE 754-2019)",
    )
    MAXIMUM = (
        "maximum",
        "elementwise maximum; NaN if either is NaN; 0.0 is above -0.0 (IEEE 754-2019)",
    )
    SQRT = "sqrt", "correctly rounded square root"
    POW = "pow", "a ** b (float)"
    # comparison and logic
    EQ = "eq", "a == b"
    NE = "ne", "a != b"
    LT = "lt", "a < b"
    LE = "le", "a <= b"
    GT = "gt", "a > b"
    GE = "ge", "a >= b"
    AND = "and", "a and b"
    OR = "or", "a or b"
    NOT = "not", "not a"
    WHERE = "where", "b where condition else c (bit for bit: a -0.0 stays -0.0)"
    ISNAN = "isnan", "x is NaN"
    # conversions
    TO_FLOAT = "to_float", "int64 or bool to float64 (round to nearest even beyond 2**53)"
    TO_INT = (
        "to_int",
        "float64 to int64 truncating toward zero (argument already finite and in range); bool to 0/1; timestamp to its int64 microseconds",
    )
    TO_STRING = "to_string", "int64 as a decimal string"
    # strings (ASCII case mapping; code-point comparisons)
    LOWER_ASCII = "lower_ascii", "A-Z to a-z; other characters unchanged"
    UPPER_ASCII = "upper_ascii", "a-z to A-Z; other characters unchanged"
    STRIP_SPACES = "strip_spaces", "remove leading and trailing U+0020 spaces"
    CONCAT = "concat", "string concatenation"
    STARTS_WITH = "starts_with", "x starts with the literal prefix"
    ENDS_WITH = "ends_with", "x ends with the literal suffix"
    CONTAINS = "contains", "x contains the literal text"
    MATCHES = "matches", "x fully matches the regular expression (portable subset)"
    MURMUR3 = "murmur3", "MurmurHash3_x86_32, seed 0, of the UTF-8 bytes, as a non-negative int"
    # categorical
    LOOKUP = "lookup", "index of x in the constant keys, or -1"
    LIST_SIZE = "list_size", "the number of items of a constant vector, as an int scalar"
    GATHER = "gather", "the item at position index (int64, 0 <= index < len) of a constant vector"
    BUCKETIZE = "bucketize", "number of boundaries <= x; NaN gives len(boundaries)"
    ONE_HOT = "one_hot", "width columns: 1.0 where the index equals the column number, else 0.0"
    # exact routines
    CALL = "call", "a named exact routine of featuredsl.compiler.libm (attr routine) applied to x"
    # analyzers (replaced by constants at fit time)
    FITTED = "fitted", "a statistic of the training data (attr analyzer)"


# Primitives whose two implementations differ by a few ULP (measured, see docs/parity.md).
# Every other primitive must be bit-identical between numpy and onnxruntime.
# log, exp, sin and cos are not primitives: featuredsl.compiler.libm computes them from exactly
# rounded operations (fdlibm's algorithms), so they are bit-identical too. Only pow is left to the
# runtimes' libm (measured identical so far, see docs/parity.md).
ULP_BOUND: dict[str, int] = {
    Prim.POW: 8,
}

LEAVES = frozenset({Prim.INPUT, Prim.CONST, Prim.LIST_CONST, Prim.FITTED})
