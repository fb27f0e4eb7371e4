"""String ops: ASCII case mapping, stripping, concatenation, tests and portable regexes."""

from __future__ import annotations

from typing import Any

from featuredsl.compiler.builder import (
    Emitter,
    LoweringError,
    Value,
    literal,
)
from featuredsl.compiler.op import (
    PROPAGATE,
    STR,
    Op,
    Returns,
    param,
)
from featuredsl.compiler.types import DType


def _string_unary(op: str) -> Any:
    def lower(e: Emitter, x: Value) -> Value:
        return Value(e.unary(op, x.node))

    lower.__name__ = f"lower_{op}"
    return lower


def _string_test(op: str) -> Any:
    def lower(e: Emitter, x: Value, text: Value) -> Value:
        return Value(e.node(op, (x.node,), DType.BOOL, text=literal(text)))

    lower.__name__ = f"lower_{op}"
    return lower


_REGEX_HINT = (
    "matches() accepts literals, ., classes [a-z], \\d \\w, groups, |, and quantifiers * + ? {m,n}"
)


lower_lower = _string_unary("lower_ascii")
lower_upper = _string_unary("upper_ascii")
lower_strip = _string_unary("strip_spaces")


def lower_concat(e: Emitter, *values: Value) -> Value:
    result = values[0].node
    for v in values[1:]:
        result = e.binary("concat", result, v.node)
    return Value(result)


lower_starts_with = _string_test("starts_with")
lower_ends_with = _string_test("ends_with")
lower_contains = _string_test("contains")


def lower_matches(e: Emitter, x: Value, pattern: Value) -> Value:
    from featuredsl.compiler.regex import check_portable_regex

    text = literal(pattern)
    problem = check_portable_regex(text)
    if problem:
        raise LoweringError(
            f"regular expression not portable: {problem}", _REGEX_HINT, pattern.node.span
        )
    return Value(e.node("matches", (x.node,), DType.BOOL, pattern=text))


OPS: tuple[Op, ...] = (
    Op(
        "lower",
        "string",
        (param("x", STR),),
        Returns.STRING,
        PROPAGATE,
        lower_lower,
        "ASCII only: maps A-Z to a-z; every other character, including non-ASCII letters, is "
        'unchanged (lower("ÉCOLE") is "École"). Both runtimes agree exactly on this rule; Unicode '
        "case mapping does not agree across runtimes.",
        'lower(s) == "de"',
    ),
    Op(
        "upper",
        "string",
        (param("x", STR),),
        Returns.STRING,
        PROPAGATE,
        lower_upper,
        'ASCII only: maps a-z to A-Z; every other character is unchanged (upper("straße") is '
        '"STRAßE", upper("é") is "é").',
        "lookup(upper(s), vocab(upper(s)))",
    ),
    Op(
        "strip",
        "string",
        (param("x", STR),),
        Returns.STRING,
        PROPAGATE,
        lower_strip,
        "Removes leading and trailing spaces (U+0020 only; tabs and newlines are kept).",
        'strip(s) == ""',
    ),
    Op(
        "concat",
        "string",
        (param("a", STR), param("b", STR)),
        Returns.STRING,
        PROPAGATE,
        lower_concat,
        "Concatenation of two or more strings.",
        'hash_bucket(concat(s, "/", s), 100)',
        variadic=True,
    ),
    Op(
        "starts_with",
        "string",
        (param("x", STR), param("prefix", STR, literal=True, row=False)),
        Returns.BOOL,
        PROPAGATE,
        lower_starts_with,
        "x begins with the literal prefix (code points; the empty prefix always matches).",
        'starts_with(s, "D")',
    ),
    Op(
        "ends_with",
        "string",
        (param("x", STR), param("suffix", STR, literal=True, row=False)),
        Returns.BOOL,
        PROPAGATE,
        lower_ends_with,
        "x ends with the literal suffix.",
        'ends_with(s, "E")',
    ),
    Op(
        "contains",
        "string",
        (param("x", STR), param("text", STR, literal=True, row=False)),
        Returns.BOOL,
        PROPAGATE,
        lower_contains,
        "x contains the literal text.",
        'contains(s, "é")',
    ),
    Op(
        "matches",
        "string",
        (param("x", STR), param("pattern", STR, literal=True, row=False)),
        Returns.BOOL,
        PROPAGATE,
        lower_matches,
        "x matches the whole regular expression. Only the portable subset that RE2 (onnxruntime) and Python's "
        "re (ASCII mode) read the same way is accepted: literals, ., classes, \\d \\w (ASCII), groups, "
        "alternation and quantifiers; no anchors, \\s, \\b, backreferences, lookaround or flags.",
        'matches(s, "[A-Z]{2}")',
    ),
)
