"""The op catalogue: every surface op's signature, type rule, null rule, docs and lowering, as data.

docs/language.md is generated from this table (`python -m featuredsl.compiler.docgen`), and a test checks
that the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from featuredsl.compiler import lowering as lo
from featuredsl.compiler.types import DType

NUM = frozenset({DType.INT, DType.FLOAT})
FLOAT_ONLY = frozenset({DType.FLOAT})
INT_ONLY = frozenset({DType.INT})
BOOL = frozenset({DType.BOOL})
STR = frozenset({DType.STRING})
TS = frozenset({DType.TIMESTAMP})
CATEGORICAL = frozenset({DType.STRING, DType.INT})
ORDERED = frozenset({DType.INT, DType.FLOAT, DType.TIMESTAMP})
ANY = frozenset(DType)
CASTABLE = frozenset({DType.INT, DType.FLOAT, DType.BOOL})

# Null rules: what an op does when an argument may be null.
PROPAGATE = "propagate"  # null in -> null out (floats: NaN in -> NaN out)
REJECT = "reject"  # a nullable argument is a compile error; fill_null or is_null first
HANDLES = "handles"  # the op is about nulls and handles them itself
SKIP = "skip"  # analyzers: nulls are left out of the statistic

NULL_RULE_TEXT = {
    PROPAGATE: "null in any argument gives null (floats: NaN)",
    REJECT: "arguments must not be nullable: wrap them in fill_null(...) first",
    HANDLES: "handles nulls itself (see description)",
    SKIP: "nulls (and NaN) are left out of the statistic",
}


@dataclass(frozen=True)
class Param:
    name: str
    accepts: frozenset[DType]
    literal: bool = False  # must be written as a literal in the spec
    is_list: bool = False  # a list: a literal [..] or a list analyzer (quantiles, vocab)
    optional: bool = False
    default: str = ""  # shown in the docs
    row: bool = True  # may be a per-row value (False: a scalar such as a literal or statistic)
    null_ok: bool = True  # a nullable value is allowed here (when the op's null rule allows it)


@dataclass(frozen=True)
class Op:
    name: str
    category: str
    params: tuple[Param, ...]
    returns: str  # type rule, see result_dtype()
    null_rule: str
    lower: Callable[..., lo.Value]
    doc: str
    example: str
    analyzer: bool = False
    variadic: bool = False  # the last parameter repeats (at least once more)
    operator: str = ""  # for operators: the symbol

    @property
    def signature(self) -> str:
        parts = []
        for p in self.params:
            text = p.name
            if p.optional:
                text += f"={p.default}"
            parts.append(text)
        if self.variadic:
            parts.append("...")
        if self.name == "if":
            return "if condition then a else b"  # syntax, not a call
        if self.operator:
            names = [p.name for p in self.params]
            if len(names) == 2:
                return f"{names[0]} {self.operator} {names[1]}"
            space = " " if self.operator.isalpha() else ""  # "not b", but "-x"
            return f"{self.operator}{space}{names[0]}"
        return f"{self.name}({', '.join(parts)})"


def result_dtype(rule: str, args: list[DType]) -> DType | None:
    """The result dtype from the rule and the argument dtypes (None when the rule is 'unify')."""
    if rule in ("float", "list[float]"):
        return DType.FLOAT
    if rule == "int":
        return DType.INT
    if rule == "bool":
        return DType.BOOL
    if rule == "string":
        return DType.STRING
    if rule in ("same", "list[same]"):
        return args[0]
    if rule == "promote":
        return DType.FLOAT if DType.FLOAT in args else DType.INT
    if rule == "unify":
        return None
    raise ValueError(rule)


def _p(name: str, accepts: frozenset[DType], **kw: object) -> Param:
    return Param(name, accepts, **kw)  # type: ignore[arg-type]


X = _p("x", NUM)
A_NUM, B_NUM = _p("a", NUM), _p("b", NUM)

OPS: tuple[Op, ...] = (
    # ---------------------------------------------------------------- arithmetic operators
    Op(
        "add",
        "arithmetic",
        (A_NUM, B_NUM),
        "promote",
        PROPAGATE,
        lo.lower_add,
        "Sum. int + int stays int (wraps modulo 2**64); with a float operand both become float.",
        "n + 1",
        operator="+",
    ),
    Op(
        "sub",
        "arithmetic",
        (A_NUM, B_NUM),
        "promote",
        PROPAGATE,
        lo.lower_sub,
        "Difference; same promotion as +.",
        "x - 1.5",
        operator="-",
    ),
    Op(
        "mul",
        "arithmetic",
        (A_NUM, B_NUM),
        "promote",
        PROPAGATE,
        lo.lower_mul,
        "Product; same promotion as +.",
        "x * 2",
        operator="*",
    ),
    Op(
        "truediv",
        "arithmetic",
        (A_NUM, B_NUM),
        "float",
        PROPAGATE,
        lo.lower_truediv,
        "True division, always float. IEEE rules: x / 0 is +-inf, 0 / 0 is NaN.",
        "n / 7",
        operator="/",
    ),
    Op(
        "floordiv",
        "arithmetic",
        (A_NUM, B_NUM),
        "promote",
        PROPAGATE,
        lo.lower_floordiv,
        "Floor division. Ints: rounds toward -inf, n // 0 is 0, INT64_MIN // -1 is INT64_MIN. "
        "Floats: floor(a / b) (one division, one floor).",
        "n // 3",
        operator="//",
    ),
    Op(
        "mod",
        "arithmetic",
        (A_NUM, B_NUM),
        "promote",
        PROPAGATE,
        lo.lower_mod,
        "Remainder with the sign of b. Ints: n % 0 is 0. Floats: a - b * floor(a / b), computed in that order.",
        "n % 7",
        operator="%",
    ),
    Op(
        "power",
        "arithmetic",
        (A_NUM, B_NUM),
        "float",
        PROPAGATE,
        lo.lower_pow,
        "a ** b, always float (binds tighter than unary minus: -x ** 2 is -(x ** 2)).",
        "x ** 2",
        operator="**",
    ),
    Op(
        "neg",
        "arithmetic",
        (X,),
        "same",
        PROPAGATE,
        lo.lower_neg,
        "Negation. -0.0 and 0.0 keep IEEE signs; -INT64_MIN is INT64_MIN.",
        "-x",
        operator="-",
    ),
    # ---------------------------------------------------------------- math functions
    Op("abs", "math", (X,), "same", PROPAGATE, lo.lower_abs, "Absolute value.", "abs(x)"),
    Op(
        "sign",
        "math",
        (X,),
        "same",
        PROPAGATE,
        lo.lower_sign,
        "1 if x > 0, -1 if x < 0, otherwise x itself (so 0.0, -0.0 and NaN are returned unchanged).",
        "sign(x)",
    ),
    Op(
        "min",
        "math",
        (A_NUM, B_NUM),
        "promote",
        PROPAGATE,
        lo.lower_minimum,
        "Elementwise minimum of two or more values; NaN if any is NaN. With one argument, min is the analyzer.",
        "min(x, 0)",
        variadic=True,
    ),
    Op(
        "max",
        "math",
        (A_NUM, B_NUM),
        "promote",
        PROPAGATE,
        lo.lower_maximum,
        "Elementwise maximum of two or more values; NaN if any is NaN. With one argument, max is the analyzer.",
        "max(n, 1)",
        variadic=True,
    ),
    Op(
        "clip",
        "math",
        (X, _p("lo", NUM), _p("hi", NUM)),
        "promote",
        PROPAGATE,
        lo.lower_clip,
        "min(max(x, lo), hi). A NaN x or a NaN bound gives NaN (unlike onnx Clip, which ignores NaN bounds).",
        "clip(x, -3, 3)",
    ),
    Op(
        "pow",
        "math",
        (A_NUM, B_NUM),
        "float",
        PROPAGATE,
        lo.lower_pow,
        "a ** b as float. Within the documented ULP bound of numpy (see docs/parity.md).",
        "pow(x, 0.5)",
    ),
    Op(
        "sqrt",
        "math",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_sqrt,
        "Square root, correctly rounded (bit-identical). sqrt of a negative number is NaN.",
        "sqrt(abs(x))",
    ),
    Op(
        "log",
        "math",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_log,
        "Natural logarithm; log(0) = -inf, log(negative) = NaN. Computed by featuredsl itself (fdlibm's "
        "algorithm from exactly rounded operations), so both runtimes agree bit for bit; within 1 ULP of "
        "numpy.log.",
        "log(abs(x) + 1)",
    ),
    Op(
        "log1p",
        "math",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_log1p,
        "log(1 + x), accurate for small x: computed as log(u) * (x / (u - 1)) with u = 1 + x (Goldberg), "
        "x itself when u == 1, +inf when u is +inf.",
        "log1p(abs(x))",
    ),
    Op(
        "exp",
        "math",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_exp,
        "e ** x (0 below -745.13, +inf above 709.78). Computed by featuredsl itself (fdlibm's algorithm), "
        "bit-identical in both runtimes; within 1 ULP of numpy.exp.",
        "exp(-abs(x))",
    ),
    Op(
        "expm1",
        "math",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_expm1,
        "exp(x) - 1 with u = exp(x): for |x| < 0.5 Kahan's (u - 1) * x / log(u), accurate for small x "
        "(x itself when u == 1); otherwise u - 1. Bit-identical in both runtimes.",
        "expm1(clip(x, -5, 5))",
    ),
    Op(
        "sin",
        "math",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_sin,
        "Sine of radians. Computed by featuredsl itself (fdlibm's reduction by pi/2 and kernels), "
        "bit-identical in both runtimes; within 2 ULP of numpy.sin for |x| < 1.6e6, less accurate beyond, "
        "NaN for |x| >= 2**52.",
        "sin(2 * pi * hour(t) / 24)",
    ),
    Op(
        "cos",
        "math",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_cos,
        "Cosine of radians; same method and accuracy as sin.",
        "cos(2 * pi * hour(t) / 24)",
    ),
    Op(
        "sigmoid",
        "math",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_sigmoid,
        "1 / (1 + exp(-x)), computed in that order.",
        "sigmoid(x)",
    ),
    Op(
        "round",
        "math",
        (X, _p("ndigits", INT_ONLY, literal=True, optional=True, default="0", row=False)),
        "promote",
        PROPAGATE,
        lo.lower_round,
        "Round half to even. With ndigits > 0: round_even(x * 10**ndigits) / 10**ndigits; with ndigits < 0: "
        "round_even(x / 10**-n) * 10**-n (not Python's decimal-exact round). Ints are returned unchanged "
        "for ndigits >= 0; the result is float otherwise.",
        "round(x, 2)",
    ),
    Op(
        "floor",
        "math",
        (X,),
        "same",
        PROPAGATE,
        lo.lower_floor,
        "Round toward -inf (ints unchanged).",
        "floor(x)",
    ),
    Op(
        "ceil",
        "math",
        (X,),
        "same",
        PROPAGATE,
        lo.lower_ceil,
        "Round toward +inf (ints unchanged).",
        "ceil(x)",
    ),
    # ---------------------------------------------------------------- comparison and logic
    Op(
        "eq",
        "logic",
        (_p("a", ANY), _p("b", ANY)),
        "bool",
        REJECT,
        lo.lower_eq,
        "Equality. Numbers compare after int -> float promotion; strings by code points; NaN == NaN is false.",
        's == "DE"',
        operator="==",
    ),
    Op(
        "ne",
        "logic",
        (_p("a", ANY), _p("b", ANY)),
        "bool",
        REJECT,
        lo.lower_ne,
        "Inequality.",
        "n != 0",
        operator="!=",
    ),
    Op(
        "lt",
        "logic",
        (_p("a", ORDERED), _p("b", ORDERED)),
        "bool",
        REJECT,
        lo.lower_lt,
        "Less than (numbers or timestamps). Comparisons with NaN are false.",
        "x < 0",
        operator="<",
    ),
    Op(
        "le",
        "logic",
        (_p("a", ORDERED), _p("b", ORDERED)),
        "bool",
        REJECT,
        lo.lower_le,
        "Less or equal.",
        "x <= 0",
        operator="<=",
    ),
    Op(
        "gt",
        "logic",
        (_p("a", ORDERED), _p("b", ORDERED)),
        "bool",
        REJECT,
        lo.lower_gt,
        "Greater than.",
        "t > t2",
        operator=">",
    ),
    Op(
        "ge",
        "logic",
        (_p("a", ORDERED), _p("b", ORDERED)),
        "bool",
        REJECT,
        lo.lower_ge,
        "Greater or equal.",
        "n >= 10",
        operator=">=",
    ),
    Op(
        "and",
        "logic",
        (_p("a", BOOL), _p("b", BOOL)),
        "bool",
        REJECT,
        lo.lower_and,
        "Logical and (both sides are always evaluated).",
        "b and x > 0",
        operator="and",
    ),
    Op(
        "or",
        "logic",
        (_p("a", BOOL), _p("b", BOOL)),
        "bool",
        REJECT,
        lo.lower_or,
        "Logical or.",
        "b or n > 3",
        operator="or",
    ),
    Op(
        "not",
        "logic",
        (_p("a", BOOL),),
        "bool",
        REJECT,
        lo.lower_not,
        "Logical not.",
        "not b",
        operator="not",
    ),
    Op(
        "if",
        "logic",
        (_p("condition", BOOL, null_ok=False), _p("then", ANY), _p("else", ANY)),
        "unify",
        HANDLES,
        lo.lower_if,
        "`if c then a else b`: a where c is true, else b. Both branches are computed; types unify "
        "(int with float gives float; null takes the other branch's type and makes the result nullable). "
        "The condition must not be nullable.",
        "if x > 0 then x else 0",
    ),
    # ---------------------------------------------------------------- nulls
    Op(
        "is_null",
        "null",
        (_p("x", ANY),),
        "bool",
        HANDLES,
        lo.lower_is_null,
        "True where x is null (for floats: NaN). False everywhere for a non-nullable value.",
        "is_null(y)",
    ),
    Op(
        "fill_null",
        "null",
        (_p("x", ANY), _p("value", ANY)),
        "unify",
        HANDLES,
        lo.lower_fill_null,
        "x where it is not null, else value. For floats, NaN counts as null. The result is non-nullable "
        "when value is.",
        "fill_null(y, median(y))",
    ),
    Op(
        "coalesce",
        "null",
        (_p("a", ANY), _p("b", ANY)),
        "unify",
        HANDLES,
        lo.lower_coalesce,
        "The first non-null of its arguments; null only if all are.",
        "coalesce(k, n)",
        variadic=True,
    ),
    Op(
        "null_if",
        "null",
        (_p("x", ANY), _p("value", ANY, null_ok=False)),
        "unify",
        HANDLES,
        lo.lower_null_if,
        "Null where x == value, else x. The result is nullable.",
        "fill_null(null_if(n, -1), 0)",
    ),
    # ---------------------------------------------------------------- casts
    Op(
        "float",
        "cast",
        (_p("x", CASTABLE),),
        "float",
        PROPAGATE,
        lo.lower_float,
        "To float. int -> float64 is exact up to 2**53 and rounds to nearest-even beyond; bool gives 0.0/1.0. "
        "Strings are not parsed (parse upstream).",
        "float(n)",
    ),
    Op(
        "int",
        "cast",
        (_p("x", CASTABLE | TS),),
        "int",
        HANDLES,
        lo.lower_int,
        "To int. float truncates toward zero; NaN, +-inf and values outside int64 become null (so int(x) of "
        "a float is nullable: fill it). bool gives 0/1; a timestamp gives its microseconds since the epoch.",
        "fill_null(int(x), 0)",
    ),
    Op(
        "bool",
        "cast",
        (_p("x", CASTABLE),),
        "bool",
        PROPAGATE,
        lo.lower_bool,
        "To bool: x != 0 (so NaN is true, as in Python).",
        "bool(n)",
    ),
    # ---------------------------------------------------------------- analyzers
    Op(
        "mean",
        "analyzer",
        (X,),
        "float",
        SKIP,
        lo.lower_mean,
        "Arithmetic mean of the training values, from an exact (correctly rounded) sum.",
        "x - mean(x)",
        analyzer=True,
    ),
    Op(
        "std",
        "analyzer",
        (X,),
        "float",
        SKIP,
        lo.lower_std,
        "Population standard deviation (ddof = 0) of the training values, computed exactly then rounded.",
        "x / std(x)",
        analyzer=True,
    ),
    Op(
        "var",
        "analyzer",
        (X,),
        "float",
        SKIP,
        lo.lower_var,
        "Population variance (ddof = 0).",
        "x / var(x)",
        analyzer=True,
    ),
    Op(
        "min",
        "analyzer",
        (_p("x", ORDERED),),
        "same",
        SKIP,
        lo.lower_fit_min,
        "Smallest training value (one argument; with two or more, min is elementwise).",
        "x - min(x)",
        analyzer=True,
    ),
    Op(
        "max",
        "analyzer",
        (_p("x", ORDERED),),
        "same",
        SKIP,
        lo.lower_fit_max,
        "Largest training value.",
        "x / max(x)",
        analyzer=True,
    ),
    Op(
        "median",
        "analyzer",
        (X,),
        "float",
        SKIP,
        lo.lower_median,
        "quantile(x, 0.5).",
        "fill_null(y, median(y))",
        analyzer=True,
    ),
    Op(
        "quantile",
        "analyzer",
        (X, _p("q", NUM, literal=True, row=False)),
        "float",
        SKIP,
        lo.lower_quantile,
        "The q-quantile with linear interpolation between order statistics (numpy's default 'linear', "
        "Hyndman-Fan type 7).",
        "clip(x, quantile(x, 0.01), quantile(x, 0.99))",
        analyzer=True,
    ),
    Op(
        "quantiles",
        "analyzer",
        (X, _p("n", INT_ONLY, literal=True, row=False)),
        "list[float]",
        SKIP,
        lo.lower_quantiles,
        "The n - 1 inner boundaries quantile(x, i / n), i = 1..n-1, with duplicates removed: input for "
        "bucketize.",
        "bucketize(x, quantiles(x, 4))",
        analyzer=True,
    ),
    Op(
        "mode",
        "analyzer",
        (_p("x", ANY - TS),),
        "same",
        SKIP,
        lo.lower_mode,
        "Most frequent training value; ties go to the smallest value.",
        "lookup(fill_null(s2, mode(s2)), vocab(s2))",
        analyzer=True,
    ),
    Op(
        "count",
        "analyzer",
        (_p("x", ANY),),
        "int",
        SKIP,
        lo.lower_count,
        "Number of non-null training values.",
        "n / count(n)",
        analyzer=True,
    ),
    Op(
        "vocab",
        "analyzer",
        (
            _p("x", CATEGORICAL),
            _p("top", INT_ONLY, literal=True, optional=True, default="all", row=False),
            _p("min_count", INT_ONLY, literal=True, optional=True, default="1", row=False),
        ),
        "list[same]",
        SKIP,
        lo.lower_vocab,
        "Distinct training values seen at least min_count times, most frequent first (ties by value, code-point "
        "order), cut to the top most frequent.",
        "lookup(s, vocab(s, top=50))",
        analyzer=True,
    ),
    # ---------------------------------------------------------------- scalers (fitted)
    Op(
        "zscore",
        "scaler",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_zscore,
        "(x - mean(x)) / std(x); a zero or non-finite std is replaced by 1.",
        "zscore(x)",
    ),
    Op(
        "minmax",
        "scaler",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_minmax,
        "(x - min(x)) / (max(x) - min(x)); a zero or non-finite range is replaced by 1.",
        "minmax(x)",
    ),
    Op(
        "robust",
        "scaler",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_robust,
        "(x - median(x)) / (quantile(x, 0.75) - quantile(x, 0.25)); a zero or non-finite IQR is replaced by 1.",
        "robust(x)",
    ),
    Op(
        "maxabs",
        "scaler",
        (X,),
        "float",
        PROPAGATE,
        lo.lower_maxabs,
        "x / max(abs(x)); a zero or non-finite scale is replaced by 1.",
        "maxabs(x)",
    ),
    # ---------------------------------------------------------------- categorical
    Op(
        "bucketize",
        "categorical",
        (X, _p("boundaries", NUM, is_list=True, row=False)),
        "int",
        REJECT,
        lo.lower_bucketize,
        "The number of boundaries <= x: bucket i holds boundaries[i-1] <= x < boundaries[i] (left edge "
        "included, as numpy.searchsorted(side='right')). Boundaries must be strictly increasing; fitted "
        "quantiles are de-duplicated. NaN goes to the last bucket, len(boundaries).",
        "bucketize(x, [0, 10, 100])",
    ),
    Op(
        "lookup",
        "categorical",
        (
            _p("x", CATEGORICAL),
            _p("vocab", CATEGORICAL, is_list=True, row=False),
            _p("oov_buckets", INT_ONLY, literal=True, optional=True, default="1", row=False),
            _p("default", INT_ONLY, literal=True, optional=True, default="-1", row=False),
        ),
        "int",
        REJECT,
        lo.lower_lookup,
        "Position of x in vocab (0-based). Values not in vocab: len(vocab) + hash_bucket(x, oov_buckets) "
        "when oov_buckets >= 1 (so len(vocab) with the default 1), else default.",
        "lookup(s, vocab(s))",
    ),
    Op(
        "one_hot",
        "categorical",
        (
            _p("x", CATEGORICAL),
            _p("vocab", CATEGORICAL, is_list=True, row=False),
            _p("oov_buckets", INT_ONLY, literal=True, optional=True, default="1", row=False),
        ),
        "float",
        REJECT,
        lo.lower_one_hot,
        "len(vocab) + oov_buckets columns of 0.0/1.0: column lookup(x, vocab, oov_buckets). Columns are named "
        "`feature[value]` and `feature[<oov>]` (`feature[<oov:i>]` for several OOV buckets). A one_hot must "
        "be a feature on its own.",
        'one_hot(s, ["DE", "FR", "US"])',
    ),
    Op(
        "hash_bucket",
        "categorical",
        (_p("x", CATEGORICAL), _p("n", INT_ONLY, literal=True, row=False)),
        "int",
        REJECT,
        lo.lower_hash_bucket,
        "MurmurHash3_x86_32 (seed 0) of the UTF-8 bytes, as an unsigned 32-bit number, modulo n. Ints are "
        'hashed as their decimal text, so 42 and "42" share a bucket. Equals '
        "sklearn.utils.murmurhash3_32(text, positive=True) % n.",
        "hash_bucket(s, 1000)",
    ),
    Op(
        "cross",
        "categorical",
        (_p("a", CATEGORICAL), _p("b", CATEGORICAL), _p("n", INT_ONLY, literal=True, row=False)),
        "int",
        REJECT,
        lo.lower_cross,
        'Feature cross: hash of text(a) + "\\x1f" + text(b), modulo n (same hash as hash_bucket).',
        "cross(s, n, 10000)",
    ),
    # ---------------------------------------------------------------- strings
    Op(
        "lower",
        "string",
        (_p("x", STR),),
        "string",
        PROPAGATE,
        lo.lower_lower,
        "Maps A-Z to a-z; every other character, including non-ASCII letters, is unchanged (both runtimes "
        "agree exactly on this rule; Unicode case mapping does not agree across runtimes).",
        'lower(s) == "de"',
    ),
    Op(
        "upper",
        "string",
        (_p("x", STR),),
        "string",
        PROPAGATE,
        lo.lower_upper,
        "Maps a-z to A-Z; every other character is unchanged.",
        "lookup(upper(s), vocab(upper(s)))",
    ),
    Op(
        "strip",
        "string",
        (_p("x", STR),),
        "string",
        PROPAGATE,
        lo.lower_strip,
        "Removes leading and trailing spaces (U+0020 only; tabs and newlines are kept).",
        'strip(s) == ""',
    ),
    Op(
        "concat",
        "string",
        (_p("a", STR), _p("b", STR)),
        "string",
        PROPAGATE,
        lo.lower_concat,
        "Concatenation of two or more strings.",
        'hash_bucket(concat(s, "/", s), 100)',
        variadic=True,
    ),
    Op(
        "starts_with",
        "string",
        (_p("x", STR), _p("prefix", STR, literal=True, row=False)),
        "bool",
        PROPAGATE,
        lo.lower_starts_with,
        "x begins with the literal prefix (code points; the empty prefix always matches).",
        'starts_with(s, "D")',
    ),
    Op(
        "ends_with",
        "string",
        (_p("x", STR), _p("suffix", STR, literal=True, row=False)),
        "bool",
        PROPAGATE,
        lo.lower_ends_with,
        "x ends with the literal suffix.",
        'ends_with(s, "E")',
    ),
    Op(
        "contains",
        "string",
        (_p("x", STR), _p("text", STR, literal=True, row=False)),
        "bool",
        PROPAGATE,
        lo.lower_contains,
        "x contains the literal text.",
        'contains(s, "é")',
    ),
    Op(
        "matches",
        "string",
        (_p("x", STR), _p("pattern", STR, literal=True, row=False)),
        "bool",
        PROPAGATE,
        lo.lower_matches,
        "x matches the whole regular expression. Only the portable subset that RE2 (onnxruntime) and Python's "
        "re (ASCII mode) read the same way is accepted: literals, ., classes, \\d \\w (ASCII), groups, "
        "alternation and quantifiers; no anchors, \\s, \\b, backreferences, lookaround or flags.",
        'matches(s, "[A-Z]{2}")',
    ),
    # ---------------------------------------------------------------- time (UTC)
    Op(
        "year",
        "time",
        (_p("t", TS),),
        "int",
        PROPAGATE,
        lo.lower_year,
        "Calendar year (proleptic Gregorian, UTC).",
        "year(t)",
    ),
    Op(
        "month",
        "time",
        (_p("t", TS),),
        "int",
        PROPAGATE,
        lo.lower_month,
        "Month, 1-12.",
        "month(t)",
    ),
    Op(
        "day",
        "time",
        (_p("t", TS),),
        "int",
        PROPAGATE,
        lo.lower_day,
        "Day of the month, 1-31.",
        "day(t)",
    ),
    Op(
        "hour",
        "time",
        (_p("t", TS),),
        "int",
        PROPAGATE,
        lo.lower_hour,
        "Hour of the day, 0-23.",
        "hour(t)",
    ),
    Op(
        "minute",
        "time",
        (_p("t", TS),),
        "int",
        PROPAGATE,
        lo.lower_minute,
        "Minute of the hour, 0-59.",
        "minute(t)",
    ),
    Op(
        "second",
        "time",
        (_p("t", TS),),
        "int",
        PROPAGATE,
        lo.lower_second,
        "Second of the minute, 0-59.",
        "second(t)",
    ),
    Op(
        "day_of_week",
        "time",
        (_p("t", TS),),
        "int",
        PROPAGATE,
        lo.lower_day_of_week,
        "Day of the week, Monday = 0 ... Sunday = 6.",
        "day_of_week(t)",
    ),
    Op(
        "day_of_year",
        "time",
        (_p("t", TS),),
        "int",
        PROPAGATE,
        lo.lower_day_of_year,
        "Day of the year, 1-366.",
        "day_of_year(t)",
    ),
    Op(
        "days_between",
        "time",
        (_p("start", TS), _p("end", TS)),
        "int",
        PROPAGATE,
        lo.lower_days_between,
        "Whole days from start to end, rounded toward -inf: (end - start) // 86400000000 microseconds.",
        "days_between(t2, t)",
    ),
    Op(
        "seconds_between",
        "time",
        (_p("start", TS), _p("end", TS)),
        "int",
        PROPAGATE,
        lo.lower_seconds_between,
        "Whole seconds from start to end, rounded toward -inf.",
        "seconds_between(t2, t)",
    ),
)

OPERATOR_OPS = {(op.operator, len(op.params)): op for op in OPS if op.operator}
FUNCTIONS: dict[str, list[Op]] = {}
for _op in OPS:
    if not _op.operator:
        FUNCTIONS.setdefault(_op.name, []).append(_op)

# Names that are constants rather than columns.
CONSTANTS: dict[str, float] = {"pi": 3.141592653589793, "inf": float("inf"), "nan": float("nan")}

# Inputs every language-reference example is written against.
EXAMPLE_INPUTS = (
    ("x", "float", False),
    ("y", "float", True),
    ("n", "int", False),
    ("k", "int", True),
    ("s", "string", False),
    ("s2", "string", True),
    ("b", "bool", False),
    ("t", "timestamp", False),
    ("t2", "timestamp", False),
)


def find_op(name: str, arg_count: int) -> Op | None:
    """The function called `name` that takes arg_count arguments (min/max: analyzer vs elementwise)."""
    candidates = FUNCTIONS.get(name, [])
    for op in candidates:
        required = sum(1 for p in op.params if not p.optional)
        if op.variadic and arg_count >= len(op.params):
            return op
        if required <= arg_count <= len(op.params):
            return op
    return candidates[0] if candidates else None
