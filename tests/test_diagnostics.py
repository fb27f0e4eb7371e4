"""A corpus of broken specs: each must fail with one diagnostic at the right place.

Table-driven: every case is a spec (or a body appended to HEAD, whose first body line is 16),
the message, the 1-based line and column of the diagnostic, and its hint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

from featuredsl.cli.main import main as cli_main
from featuredsl.compiler.frontend import check_source
from featuredsl.language.diagnostics import DiagnosticError

HEAD = """\
spec t

input {
  x: float
  y: float?
  n: int
  k: int?
  s: string
  s2: string?
  b: bool
  b2: bool?
  t: timestamp
  t2: timestamp?
}

"""
RENDERED_HEAD = re.compile(r"^t\.fdsl:\d+:\d+: error: ", re.M)
CARET_LINE = re.compile(r"^ {7}\| *\^+$", re.M)


class Case(NamedTuple):
    name: str
    body: str
    message: str
    line: int
    column: int
    hint: str


CASES = [
    Case(
        "parse: missing expression",
        "feature f = x +",
        "expected an expression, found the end of the file",
        16,
        16,
        "the spec ends in the middle of a statement",
    ),
    Case(
        "parse: missing close paren",
        "feature f = log(x",
        "expected ',' or ')' after the argument, found the end of the file",
        16,
        18,
        "close the call with ')' or add ',' before the next argument",
    ),
    Case(
        "parse: unclosed list",
        "feature f = bucketize(x, [1, 2",
        "expected ',' or ']' in the list, found the end of the file",
        16,
        31,
        "close the list with ']'",
    ),
    Case(
        "parse: two values in a row",
        "feature f = x y",
        "expected an operator, 'feature', 'let' or the end of the file, found a name 'y'",
        16,
        15,
        "two values in a row: is an operator or a ',' missing? (a column name with spaces or "
        "other characters is written in backticks: `mean radius`)",
    ),
    Case(
        "parse: chained comparison",
        "feature f = 0 < x < 1",
        "expected an operator, 'feature', 'let' or the end of the file, found '<'",
        16,
        19,
        "comparisons do not chain: write a < b and b < c",
    ),
    Case(
        "parse: double equals in binding",
        "feature f == 1",
        "expected an expression after '=', found '='",
        16,
        12,
        "bind with a single '=': let x = ...",
    ),
    Case(
        "parse: missing then",
        "feature f = if b 1 else 2",
        "expected 'then' after the condition, found a number '1'",
        16,
        18,
        "write: if CONDITION then A else B",
    ),
    Case(
        "parse: missing else",
        "feature f = if b then 1",
        "expected 'else' in the if-expression, found the end of the file",
        16,
        24,
        "an if-expression needs both branches: if C then A else B",
    ),
    Case(
        "parse: keyword as a name",
        "let then = 1",
        "'then' is a keyword, not a name",
        16,
        5,
        "choose another name",
    ),
    Case(
        "parse: keyword as a column",
        "spec t\ninput { input: int }\nfeature f = input",
        "'input' is a keyword, not a name",
        2,
        9,
        "choose another name",
    ),
    Case(
        "parse: bad type",
        "spec t\ninput { a: double }\nfeature f = a",
        "expected a type, found a name 'double'",
        2,
        12,
        "write one of float, int, bool, string, timestamp, with '?' for nullable",
    ),
    Case(
        "parse: missing header",
        "input { a: int }\nfeature f = a",
        "expected 'spec', found 'input'",
        1,
        1,
        "",
    ),
    Case(
        "parse: positional after keyword",
        "feature f = lookup(s, vocab=vocab(s), 2)",
        "positional argument after a keyword argument",
        16,
        39,
        "put positional arguments first, or name this one too",
    ),
    Case(
        "parse: non-ascii name",
        "feature größe = x",
        "unexpected character 'ö'",
        16,
        11,
        "names use ASCII letters, digits and '_'",
    ),
    Case(
        "parse: stray backslash",
        "feature f = x \\ 2",
        "unexpected '\\'",
        16,
        15,
        "backslash escapes belong inside strings",
    ),
    Case(
        "parse: stray character",
        "feature f = x $ 2",
        "unexpected character '$'",
        16,
        15,
        "remove it, or check for a typo",
    ),
    Case(
        "lex: single quotes",
        "feature f = s == 'DE'",
        "strings use double quotes",
        16,
        18,
        "write \"text\" instead of 'text'",
    ),
    Case(
        "lex: unterminated string",
        'feature f = s == "DE',
        "unterminated string",
        16,
        18,
        'close the string with " on the same line',
    ),
    Case(
        "lex: unknown escape",
        'feature f = s == "a\\qb"',
        "unknown escape '\\q' in string",
        16,
        20,
        'escapes are \\n \\t \\r \\" \\\\ \\uXXXX \\UXXXXXXXX',
    ),
    Case(
        "lex: short unicode escape",
        'feature f = s == "\\u12"',
        "'\\u' needs exactly 4 hex digits",
        16,
        19,
        'escapes are \\n \\t \\r \\" \\\\ \\uXXXX \\UXXXXXXXX',
    ),
    Case(
        "lex: NUL escape",
        'feature f = s == "a\\u0000"',
        "NUL (U+0000) is not allowed",
        16,
        20,
        "strings cannot hold U+0000 (it ends strings in C and ONNX runtimes)",
    ),
    Case(
        "lex: surrogate escape",
        'feature f = s == "\\ud83d"',
        "'\\ud83d' is a surrogate, not a character",
        16,
        19,
        "write the character itself, or its code point with \\UXXXXXXXX",
    ),
    Case(
        "lex: NUL character",
        "feature f = x\x00",
        "spec text contains a NUL character (U+0000)",
        16,
        14,
        "remove it; a NUL byte often means the file is not text",
    ),
    Case(
        "lex: integer too large",
        "feature f = n + 9223372036854775808",
        "integer 9223372036854775808 does not fit in int64",
        16,
        17,
        "int literals range from -9223372036854775808 to 9223372036854775807; write a float such as 1e19 for larger numbers",
    ),
    Case(
        "lex: negative integer too large",
        "feature f = n + -9223372036854775809",
        "integer -9223372036854775809 does not fit in int64",
        16,
        18,
        "int literals range from -9223372036854775808 to 9223372036854775807; write a float such as 1e19 for larger numbers",
    ),
    Case(
        "lex: float overflow",
        "feature f = x * 1e400",
        "number 1e400 is too large for a float (above 1.8e308)",
        16,
        17,
        "write inf for infinity",
    ),
    Case(
        "name: unknown with did-you-mean",
        "feature f = xx + 1",
        "unknown name 'xx'",
        16,
        13,
        "did you mean 'x'?",
    ),
    Case(
        "name: unknown without suggestion",
        "feature f = zzzzzz",
        "unknown name 'zzzzzz'",
        16,
        13,
        "declare it in the input block or with let",
    ),
    Case(
        "name: function used as a value",
        "feature f = log",
        "unknown name 'log'",
        16,
        13,
        "'log' is a function: call it, log(...)",
    ),
    Case(
        "name: unknown function with did-you-mean",
        "feature f = lg(x)",
        "unknown function 'lg'",
        16,
        13,
        "did you mean 'log'?",
    ),
    Case(
        "name: calling a column",
        "feature f = x(1)",
        "unknown function 'x'",
        16,
        13,
        "'x' is a value, not a function",
    ),
    Case(
        "name: redefinition",
        "feature f = x\nfeature f = n",
        "'f' is defined twice",
        17,
        9,
        "first defined on line 16",
    ),
    Case(
        "name: binding shadows an input",
        "feature x = n",
        "'x' is already an input column",
        16,
        9,
        "choose another name for the binding",
    ),
    Case(
        "name: binding shadows a constant",
        "let pi = 3\nfeature f = x",
        "'pi' is a built-in constant",
        16,
        5,
        "choose another name",
    ),
    Case(
        "name: column declared twice",
        "spec t\ninput {\n  a: int\n  a: float\n}\nfeature f = a",
        "column 'a' is declared twice",
        4,
        3,
        "first declared on line 3",
    ),
    Case(
        "name: cycle via let",
        "let a = b1 + 1\nlet b1 = a * 2\nfeature f = a",
        "'b1' depends on itself: b1 -> a -> b1",
        16,
        9,
        "break the cycle: a definition cannot use itself",
    ),
    Case(
        "name: self reference",
        "let a = a + 1\nfeature f = a",
        "'a' depends on itself: a -> a",
        16,
        9,
        "break the cycle: a definition cannot use itself",
    ),
    Case(
        "call: too many arguments",
        "feature f = log(x, 2)",
        "log() takes at most 1 argument, got 2",
        16,
        20,
        "signature: log(x)",
    ),
    Case(
        "call: unknown keyword",
        "feature f = lookup(s, vocab(s), buckets=2)",
        "lookup() has no parameter 'buckets'",
        16,
        33,
        "signature: lookup(x, vocab, oov_buckets=1, default=-1)",
    ),
    Case(
        "call: duplicate keyword",
        "feature f = lookup(s, vocab(s), oov_buckets=1, oov_buckets=2)",
        "parameter 'oov_buckets' is given twice",
        16,
        48,
        "",
    ),
    Case(
        "call: keyword duplicates a positional",
        "feature f = clip(x, 0, 1, lo=2)",
        "parameter 'lo' is given twice",
        16,
        27,
        "",
    ),
    Case(
        "call: missing argument",
        "feature f = clip(x, 0)",
        "clip() is missing the argument 'hi'",
        16,
        13,
        "signature: clip(x, lo, hi)",
    ),
    Case(
        "type: string in arithmetic",
        "feature f = s + 1",
        "the operand of '+' must be float or int, not string",
        16,
        13,
        "strings are not parsed; encode them with lookup(...) or hash_bucket(...)",
    ),
    Case(
        "type: bool in arithmetic",
        "feature f = b * 2",
        "the operand of '*' must be float or int, not bool",
        16,
        13,
        "convert it: float(...)",
    ),
    Case(
        "type: timestamp in math",
        "feature f = log(t)",
        "argument 'x' of log() must be float or int, not timestamp",
        16,
        17,
        "use a time function: hour(t), days_between(t0, t), ...",
    ),
    Case(
        "type: compare string with number",
        "feature f = s == 1",
        "cannot compare string with int",
        16,
        13,
        "compare values of one type; convert with float(...), int(...) or bool(...)",
    ),
    Case(
        "type: compare timestamp with number",
        "feature f = t > 0",
        "cannot compare timestamp with int",
        16,
        13,
        "compare values of one type; convert with float(...), int(...) or bool(...)",
    ),
    Case(
        "type: if condition not bool",
        "feature f = if x then 1 else 0",
        "the condition of 'if' must be bool, not float",
        16,
        16,
        "compare it, e.g. x > 0, or convert: bool(...)",
    ),
    Case(
        "type: if branches differ",
        'feature f = if b then "a" else 1',
        "the branches of 'if' have different types: int and string",
        16,
        13,
        "convert one side with float(...), int(...) or bool(...)",
    ),
    Case(
        "type: fill_null types differ",
        "feature f = lookup(fill_null(s2, 0), vocab(s2))",
        "the arguments of fill_null() have different types: int and string",
        16,
        20,
        "convert one side with float(...), int(...) or bool(...)",
    ),
    Case(
        "type: vocabulary of another type",
        "feature f = lookup(s, [1, 2])",
        "vocabulary of int values used on a string value",
        16,
        23,
        "build the vocabulary from the same column",
    ),
    Case(
        "type: cast of a string",
        "feature f = float(s)",
        "argument 'x' of float() must be bool or float or int, not string",
        16,
        19,
        "strings are not parsed; encode them with lookup(...) or hash_bucket(...)",
    ),
    Case(
        "literal: ndigits must be a literal",
        "feature f = round(x, n)",
        "argument 'ndigits' of round() must be a literal",
        16,
        22,
        "write a constant, e.g. round(x, 2)",
    ),
    Case(
        "literal: hash buckets must be a literal",
        "feature f = hash_bucket(s, n)",
        "argument 'n' of hash_bucket() must be a literal",
        16,
        28,
        "write a constant, e.g. hash_bucket(s, 1000)",
    ),
    Case(
        "literal: quantile level out of range",
        "feature f = quantile(x, 1.5)",
        "argument 'q' of quantile() must be between 0 and 1, not 1.5",
        16,
        25,
        "e.g. quantile(x, 0.99)",
    ),
    Case(
        "literal: zero hash buckets",
        "feature f = hash_bucket(s, 0)",
        "argument 'n' of hash_bucket() must be at least 1, not 0",
        16,
        28,
        "pass n >= 1",
    ),
    Case(
        "literal: vocab top below one",
        "feature f = lookup(s, vocab(s, top=0))",
        "argument 'top' of vocab() must be at least 1, not 0",
        16,
        36,
        "e.g. lookup(s, vocab(s, top=50))",
    ),
    Case(
        "literal: round digits out of range",
        "feature f = round(x, 400)",
        "argument 'ndigits' of round() must be between -22 and 22, not 400",
        16,
        22,
        "10**ndigits must be an exact double: keep |ndigits| <= 22",
    ),
    Case(
        "literal: negative one_hot oov buckets",
        "feature f = one_hot(s, vocab(s), oov_buckets=-1)",
        "argument 'oov_buckets' of one_hot() must be between 0 and 10000, not -1",
        16,
        46,
        "one_hot makes a column per bucket",
    ),
    Case(
        "static trap: division by a literal zero",
        "feature f = x / 0",
        "division by a constant zero",
        16,
        17,
        "floats would give +-inf or NaN on every row and ints 0: divide by a column, or guard it, e.g. a / max(b, 1)",
    ),
    Case(
        "static trap: % by a let bound to zero",
        "let zero = 0\nfeature f = n % zero",
        "division by a constant zero",
        17,
        17,
        "floats would give +-inf or NaN on every row and ints 0: divide by a column, or guard it, e.g. a / max(b, 1)",
    ),
    Case(
        "static trap: reversed clip bounds",
        "feature f = clip(x, 5.0, 1.0)",
        "clip bounds are reversed (lo > hi)",
        16,
        26,
        "write clip(x, lo, hi) with lo <= hi",
    ),
    Case(
        "static trap: sqrt of a negative literal",
        "feature f = x + sqrt(-4.0)",
        "sqrt of a negative constant is NaN",
        16,
        22,
        "take sqrt(abs(...)) or fix the sign",
    ),
    Case(
        "static trap: log of a negative literal",
        "feature f = x * log(-1)",
        "log of a negative constant is NaN",
        16,
        21,
        "take log(abs(...)) or fix the sign",
    ),
    Case(
        "literal: wrong literal type",
        "feature f = round(x, 1.5)",
        "argument 'ndigits' of round() must be int, not float",
        16,
        22,
        "",
    ),
    Case(
        "list: where a scalar is expected",
        "feature f = log([1, 2])",
        "argument 'x' of log() cannot be a list",
        16,
        17,
        "",
    ),
    Case(
        "list: as a feature",
        "feature f = [1, 2]",
        "feature 'f' is a list",
        16,
        9,
        "use it in bucketize, lookup or one_hot",
    ),
    Case(
        "list: boundaries not a list",
        "feature f = bucketize(x, 10)",
        "argument 'boundaries' of bucketize() must be a list",
        16,
        26,
        "write a list [a, b, ...] or use quantiles(...) / vocab(...)",
    ),
    Case(
        "list: mixed items",
        'feature f = bucketize(x, [1, "a"])',
        "list items must all be numbers or all be strings",
        16,
        26,
        "",
    ),
    Case(
        "list: duplicate items",
        "feature f = bucketize(x, [1, 2, 2])",
        "list has duplicate items",
        16,
        26,
        "remove the repeated values",
    ),
    Case(
        "list: non-literal item",
        "feature f = bucketize(x, [1, x])",
        "list items must be literal numbers or strings",
        16,
        30,
        'lists are constants: write [1, 2.5, 10] or ["a", "b"]',
    ),
    Case(
        "list: empty",
        "feature f = bucketize(x, [])",
        "empty list",
        16,
        26,
        "write at least one item",
    ),
    Case(
        "list: unsorted bucket boundaries",
        "feature f = bucketize(x, [10, 1, 5])",
        "bucket boundaries must be strictly increasing numbers",
        16,
        26,
        "sort them and remove duplicates",
    ),
    Case(
        "list: NaN bucket boundary",
        "feature f = bucketize(x, [1, nan])",
        "bucket boundaries must be strictly increasing numbers",
        16,
        26,
        "sort them and remove duplicates",
    ),
    Case(
        "null: nullable into a rejecting op",
        "feature f = hash_bucket(s2, 100)",
        "argument 'x' of hash_bucket() may be null (string?), and hash_bucket() has no rule for null",
        16,
        25,
        "replace nulls first: fill_null(s2, ...), or test them with is_null(s2)",
    ),
    Case(
        "null: nullable comparison",
        "feature f = fill_null(y, 0) > 0 and y > 1",
        "the operand of '>' may be null (float?), and '>' has no rule for null",
        16,
        37,
        "replace nulls first: fill_null(y, ...), or test them with is_null(y)",
    ),
    Case(
        "null: nullable if condition",
        "feature f = if b2 then 1 else 0",
        "the condition of 'if' may be null (bool?); it must not be",
        16,
        16,
        "replace nulls first: fill_null(b2, ...), or test them with is_null(b2)",
    ),
    Case(
        "null: null literal as argument",
        "feature f = log(null)",
        "null is not allowed as argument 'x' of log()",
        16,
        17,
        "null only fits fill_null, coalesce and if",
    ),
    Case(
        "null: nullable feature",
        "feature f = y * 2",
        "feature 'f' may be null (float?); a model needs a value in every row",
        16,
        9,
        "fill it: feature f = fill_null(..., 0), or add is_null(...) as its own feature",
    ),
    Case(
        "null: nullable int feature",
        "feature f = k + 1",
        "feature 'f' may be null (int?); a model needs a value in every row",
        16,
        9,
        "fill it: feature f = fill_null(..., 0), or add is_null(...) as its own feature",
    ),
    Case(
        "null: always-null feature",
        "feature f = null",
        "feature 'f' is always null",
        16,
        9,
        "give it a value",
    ),
    Case(
        "feature: string feature",
        "feature f = lower(s)",
        "feature 'f' is a string; models need numbers",
        16,
        9,
        "encode it: lookup(x, vocab(x)), one_hot(x, vocab(x)) or hash_bucket(x, n)",
    ),
    Case(
        "feature: timestamp feature",
        "feature f = t",
        "feature 'f' is a timestamp; models need numbers",
        16,
        9,
        "derive a number: days_between(t0, t), hour(t), ...",
    ),
    Case(
        "feature: one_hot inside arithmetic",
        "feature f = one_hot(s, vocab(s)) * 2",
        "the operand of '*' is a multi-column one_hot value",
        16,
        13,
        "a one_hot must be a feature on its own",
    ),
    Case(
        "feature: one_hot inside a function",
        'feature f = log1p(one_hot(s, ["a", "b"]))',
        "argument 'x' of log1p() is a multi-column one_hot value",
        16,
        19,
        "a one_hot must be a feature on its own",
    ),
    Case(
        "feature: one_hot of a constant",
        'feature f = one_hot("a", ["a", "b"])',
        "feature 'f' is a one_hot of a constant",
        16,
        9,
        "one_hot needs a per-row value",
    ),
    Case(
        "feature: none declared",
        "let a = x",
        "spec 't' declares no features",
        1,
        6,
        "add: feature NAME = EXPRESSION",
    ),
    Case(
        "analyzer: of a constant",
        "feature f = x - mean(1.0)",
        "mean() needs a per-row value to fit on, not a constant",
        16,
        22,
        "analyzers summarise a column of the training data",
    ),
    Case(
        "analyzer: of an analyzer",
        "feature f = x - mean(median(x))",
        "mean() needs a per-row value to fit on, not a constant",
        16,
        22,
        "analyzers summarise a column of the training data",
    ),
    Case(
        "scaler: of a constant (a fuzz regression: fit crashed on it)",
        "feature f = zscore(mean(x))",
        "zscore() needs a per-row value to fit on, not a constant",
        16,
        20,
        "zscore is fitted on a column of the training data",
    ),
    Case(
        "bucketize: over a vocabulary (a fuzz regression: the backends disagreed on it)",
        "feature f = bucketize(n, vocab(n))",
        "argument 'boundaries' of bucketize() must be strictly increasing; vocab() is not",
        16,
        26,
        "use a list literal [a, b, ...] or quantiles(x, n); a vocabulary is in frequency order",
    ),
    Case(
        "bucketize: over a let bound to a vocabulary",
        "let v = vocab(n)\nfeature f = bucketize(n, v)",
        "argument 'boundaries' of bucketize() must be strictly increasing; vocab() is not",
        17,
        26,
        "use a list literal [a, b, ...] or quantiles(x, n); a vocabulary is in frequency order",
    ),
    Case(
        "regex: anchor",
        'feature f = matches(s, "^DE")',
        "regular expression not portable: position 1: anchor '^' (matches() always tests the whole string)",
        16,
        24,
        "matches() accepts literals, ., classes [a-z], \\d \\w, groups, |, and quantifiers * + ? {m,n}",
    ),
    Case(
        "regex: \\s",
        'feature f = matches(s, "a\\\\s+b")',
        "regular expression not portable: position 2: \\s (RE2's \\s leaves out \\v, Python's includes it: write [ \\t\\n\\r\\f])",
        16,
        24,
        "matches() accepts literals, ., classes [a-z], \\d \\w, groups, |, and quantifiers * + ? {m,n}",
    ),
    Case(
        "regex: lookahead",
        'feature f = matches(s, "(?=a)a")',
        "regular expression not portable: position 2: lookahead (?=...)",
        16,
        24,
        "matches() accepts literals, ., classes [a-z], \\d \\w, groups, |, and quantifiers * + ? {m,n}",
    ),
    Case(
        "regex: unbalanced",
        'feature f = matches(s, "(ab")',
        "regular expression not portable: position 5: unbalanced '(': missing ')'",
        16,
        24,
        "matches() accepts literals, ., classes [a-z], \\d \\w, groups, |, and quantifiers * + ? {m,n}",
    ),
    Case(
        "regex: backreference",
        'feature f = matches(s, "(a)\\\\1")',
        "regular expression not portable: position 4: backreference or octal escape \\1",
        16,
        24,
        "matches() accepts literals, ., classes [a-z], \\d \\w, groups, |, and quantifiers * + ? {m,n}",
    ),
    Case(
        "regex: pattern must be a literal",
        "feature f = matches(s, s)",
        "argument 'pattern' of matches() must be a literal",
        16,
        24,
        'write a constant, e.g. matches(s, "[A-Z]{2}")',
    ),
    Case(
        "input: empty input block",
        "spec t\ninput {}\nfeature f = 1",
        "the input block declares no columns",
        2,
        1,
        "add: input { x: float }",
    ),
    Case(
        "depth: too deeply nested",
        "feature f = " + "-" * 150 + "x",
        "expression nested more than 100 levels deep",
        16,
        112,
        "split it into smaller parts with let",
    ),
]


def _source(body: str) -> str:
    return body if body.startswith(("spec", "input")) else HEAD + body + "\n"


def _diagnose(body: str) -> DiagnosticError:
    with pytest.raises(DiagnosticError) as caught:
        check_source(_source(body), "t.fdsl")
    return caught.value


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)
    assert len({case.body for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_broken_spec(case: Case) -> None:
    error = _diagnose(case.body)
    assert len(error.diagnostics) == 1, error.render()
    diagnostic = error.diagnostics[0]
    assert diagnostic.message == case.message
    assert (diagnostic.span.line, diagnostic.span.column) == (case.line, case.column)
    assert diagnostic.hint == case.hint


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_rendering_has_position_and_caret(case: Case) -> None:
    text = _diagnose(case.body).render()
    assert RENDERED_HEAD.search(text), text
    assert f"t.fdsl:{case.line}:{case.column}: error: {case.message}" in text
    assert CARET_LINE.search(text), text
    if case.hint:
        assert f"  hint: {case.hint}" in text


def test_rendered_text_points_at_the_spot() -> None:
    text = _diagnose("feature f = hash_bucket(s2, 100)").render()
    assert text == (
        "t.fdsl:16:25: error: argument 'x' of hash_bucket() may be null (string?), "
        "and hash_bucket() has no rule for null\n"
        "    16 | feature f = hash_bucket(s2, 100)\n"
        "       |                         ^^\n"
        "  hint: replace nulls first: fill_null(s2, ...), or test them with is_null(s2)\n"
        "1 error in t.fdsl"
    )


def test_errors_are_collected_across_statements_and_sorted() -> None:
    error = _diagnose("feature b_ = zz2 + 1\nfeature a_ = lg(x)\nlet c = s + 1")
    positions = [(d.span.line, d.span.column) for d in error.diagnostics]
    assert positions == [(16, 14), (17, 14), (18, 9)]
    assert error.render().endswith("3 errors in t.fdsl")


def test_an_error_at_the_end_of_the_file_still_has_a_caret() -> None:
    for source in ("", "spec", "spec t\ninput {"):
        with pytest.raises(DiagnosticError) as caught:
            check_source(source, "t.fdsl")
        text = caught.value.render()
        assert RENDERED_HEAD.search(text) and CARET_LINE.search(text), text


def test_check_command_reports_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "bad.fdsl"
    spec.write_text(HEAD + "feature f = lg(x)\n", encoding="utf-8")
    with pytest.raises(SystemExit) as done:
        cli_main(["check", str(spec)])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert f"{spec}:16:13: error: unknown function 'lg'" in err
    assert "hint: did you mean 'log'?" in err
