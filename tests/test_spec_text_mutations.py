"""0 internal tracebacks from spec text (issue 18, item 3).

Mutated spec texts: byte edits (the text read back from a file, so invalid UTF-8 included),
truncations, token edits, nesting up to 5,000 levels, very long identifiers, strings and numbers,
NUL, lookalike and invisible Unicode, huge and tiny numeric literals, and every op's literal
parameters given values outside their declared range. Each text goes through what `featuredsl
check` and the first step of `build` do (decode, parse, check, lower, constant pool). Every
failure must be a DiagnosticError whose every diagnostic has a line, a column and a caret;
any other exception is an internal traceback. No text may take 5 s or more.

`make test` runs a bounded slice (a few thousand texts); `make fuzz` runs the full set
(8 shards x 3,000 texts, marked slow).
"""

from __future__ import annotations

import random
import re
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from spec_literals import literal_params, literal_text, with_literal

from featuredsl.compiler.boundaries import constant_pool
from featuredsl.compiler.docgen import example_spec
from featuredsl.compiler.frontend import check_source, decode_spec
from featuredsl.compiler.op import INT64_MAX, INT64_MIN, Op, Param
from featuredsl.compiler.registry import OPS
from featuredsl.language.diagnostics import DiagnosticError

NAME = "mutant.fdsl"
LIMIT_SECONDS = 5.0
FAST_TEXTS = 3_000
FULL_SHARDS, FULL_TEXTS = 8, 3_000  # 24,000 texts in `make fuzz`

EXAMPLES = sorted(Path(__file__).resolve().parents[1].glob("examples/*/*.fdsl"))
SEEDS = list(
    dict.fromkeys(
        [p.read_text(encoding="utf-8") for p in EXAMPLES] + [example_spec(op.example) for op in OPS]
    )
)
HEAD = "spec t\ninput {\n  x: float\n  y: float?\n  n: int\n  s: string\n  b: bool\n}\n"
TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|[0-9.]+(?:[eE][+-]?[0-9]+)?'
    r"|\*\*|//|[=!<>]=|\s+|.",
    re.S,
)
NUMBER = re.compile(r"(?<![A-Za-z_0-9.])[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")
FRAGMENTS = (
    *"()[]{},:=?+-*/%<>!#\"'\\\n\t .0123456789e",
    *("if ", " then ", " else ", "null", "not ", " and ", " or ", "feature ", "let ", "input {"),
    *("one_hot(", "vocab(", "fill_null(", "lookup(", "bucketize(x, [", "**", "top=", "spec "),
)
NUMBERS = (
    *("1e999", "-1e999", "1e-999", "2e-324", "2.4e-324", "5e-324", "4.9e-324", "1e+308"),
    *("1.7976931348623157e308", "1.8e308", "9223372036854775807", "9223372036854775808"),
    *("-9223372036854775808", "-9223372036854775809", "0" * 400 + "1", "1" * 5000),
    *("0." + "0" * 400 + "1", "1e" + "9" * 50, "1e-" + "9" * 50, "0e999999", "1_000", "0x10"),
    *("1e", "1.", ".5", "00", "-0", "-0.0", "inf", "-inf", "nan", "1e0000000000000000000001"),
)
# Letters that look like ASCII but are not, and characters that do not show at all.
LOOKALIKES = {
    "a": "\u0430",
    "e": "\u0435",
    "o": "\u043e",
    "p": "\u0440",
    "c": "\u0441",
    "x": "\u0445",
    "y": "\u0443",
    "i": "\u0456",
    "s": "\u0455",
    "=": "\uff1d",
    "(": "\uff08",
    ")": "\uff09",
    "-": "\u2212",
    ",": "\uff0c",
    '"': "\u201c",
    " ": "\u00a0",
    ":": "\ua789",
    "1": "\U0001d7ed",
    "0": "\uff10",
    "_": "\uff3f",
    "*": "\u2217",
}
INVISIBLE = (
    *("\u200b", "\u200d", "\ufeff", "\u202e", "\u2028", "\u2029", "\u00ad", "\u0301", "\x85"),
    *("\x0b", "\x0c", "\r", "\x1c", "\x7f", "\ud800", "\U0010ffff", "\ufffd"),
)
# Values for a literal parameter: outside every plausible range, of the wrong kind, or special.
BAD_LITERALS = (
    *("-1", "0", "0.5", "-0.0", "1e308", "-1e308", "inf", "-inf", "nan", "1e999", "5e-324"),
    *(str(INT64_MAX), str(INT64_MIN), str(INT64_MAX + 1), str(INT64_MIN - 1), "1" * 30),
    *('"s"', '""', "true", "null", "[]", "[1, 2]", '["a", "a"]', "[nan]", "[inf, -inf]"),
    *("x", "n", "y", "s", "mean(x)", "-(-1)", "2 ** 70", "[" * 150 + "1" + "]" * 150),
    *('"("', '"\\\\"', '"[z-a]"', '"a{99999}"', '"(?P<x>"', '"\\u0000"', '"' + "z" * 5000 + '"'),
)


# ------------------------------------------------------------------ the property
def outcome(text: str | bytes) -> str:
    """'' when the text checks or fails with well-reported diagnostics, else what went wrong."""
    try:
        source = decode_spec(text, NAME) if isinstance(text, bytes) else text
        constant_pool(check_source(source, NAME))
    except DiagnosticError as error:
        return badly_reported(error)
    except Exception as error:  # any other exception is the bug looked for
        return "internal traceback:\n" + "".join(traceback.format_exception(error)[-6:])
    return ""


def badly_reported(error: DiagnosticError) -> str:
    if not error.diagnostics:
        return "a DiagnosticError without diagnostics"
    for diagnostic in error.diagnostics:
        span = diagnostic.span
        if span.line < 1 or span.column < 1:
            return f"no position: {diagnostic.message!r} at {span}"
        lines = diagnostic.render(error.source, NAME).split("\n")
        if not lines[0].startswith(f"{NAME}:{span.line}:{span.column}: error: "):
            return f"badly rendered head: {lines[0]!r}"
        if not re.fullmatch(r" {7}\| *\^+", lines[2]):
            return f"no caret under the spot: {lines[:3]!r}"
    return ""


def run_texts(
    texts: Iterator[tuple[str, str | bytes]], limit: float | None = None
) -> tuple[int, list[str]]:
    """Run every text; a text whose check takes `limit` CPU seconds or more is a problem too
    (only in the full run under `make fuzz`: time limits do not belong in `make test`)."""
    count, problems = 0, []
    for kind, text in texts:
        count += 1
        started = time.process_time()
        problem = outcome(text)
        seconds = time.process_time() - started
        if limit is not None and seconds >= limit:
            problem += f"\ntook {seconds:.1f} s of CPU time"
        if problem:
            shown = repr(text[:300]) + ("..." if len(text) > 300 else "")
            problems.append(f"[{kind}] {shown} ({len(text)} chars)\n{problem}")
    return count, problems


# ------------------------------------------------------------------ the mutations
def _seed(rng: random.Random) -> str:
    return rng.choice(SEEDS)


def byte_edits(rng: random.Random) -> bytes:
    data = bytearray(_seed(rng).encode("utf-8"))
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        edit = rng.randrange(5)
        if edit == 0 and at < len(data):
            del data[at]
        elif edit == 1:
            data.insert(at, rng.randrange(256))
        elif edit == 2 and at < len(data):
            data[at] = rng.randrange(256)
        elif edit == 3 and at < len(data):
            data[at] ^= 1 << rng.randrange(8)
        else:
            data[at:at] = data[at : at + rng.randint(1, 20)]
    return bytes(data)


def truncation(rng: random.Random) -> str | bytes:
    text = _seed(rng)
    if rng.random() < 0.5:
        raw = text.encode("utf-8")
        return raw[: rng.randrange(len(raw) + 1)]  # may cut a character in two
    return text[: rng.randrange(len(text) + 1)]


def token_edits(rng: random.Random) -> str:
    tokens = TOKEN.findall(_seed(rng))
    for _ in range(rng.randint(1, 4)):
        i, j = rng.randrange(len(tokens)), rng.randrange(len(tokens))
        edit = rng.randrange(4)
        if edit == 0 and len(tokens) > 1:
            del tokens[i]
        elif edit == 1:
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif edit == 2:
            tokens.insert(i, tokens[j])
        else:
            tokens.insert(i, rng.choice(FRAGMENTS))
    return "".join(tokens)


NESTINGS: dict[str, Callable[[int], str]] = {
    "parens": lambda d: "(" * d + "x" + ")" * d,
    "negation": lambda d: "-" * d + "x",
    "spaced negation": lambda d: "- " * d + "x",
    "not": lambda d: "not " * d + "b",
    "calls": lambda d: "abs(" * d + "x" + ")" * d,
    "two-argument calls": lambda d: "max(x, " * d + "x" + ")" * d,
    "lists": lambda d: "bucketize(x, " + "[" * d + "1" + "]" * d + ")",
    "sum": lambda d: " + ".join(["x"] * d),
    "right sum": lambda d: "x + (" * d + "x" + ")" * d,
    "power": lambda d: " ** ".join(["x"] * d),
    "comparisons": lambda d: " < ".join(["x"] * d),
    "else chain": lambda d: "if b then 1 else " * d + "0",
    "condition chain": lambda d: "if " * d + "b" + " then 1 else 0" * d,
    "unclosed": lambda d: "(" * d,
    "unopened": lambda d: "x" + ")" * d,
    "fill_null chain": lambda d: "fill_null(" * d + "y" + ", 0)" * d,
}
DEPTHS = (2, 50, 99, 100, 101, 150, 1000, 2500, 5000)


def nesting(rng: random.Random) -> str:
    shape = rng.choice(list(NESTINGS))
    depth = rng.choices(DEPTHS, weights=(4, 4, 2, 2, 2, 2, 2, 1, 1))[0]
    if rng.random() < 0.1:  # chains of lets and many features grow linearly, not in depth
        count = rng.choice((100, 1000))
        lets = "let a0 = x\n" + "".join(f"let a{i} = a{i - 1} + 1\n" for i in range(1, count))
        return HEAD + lets + f"feature f = a{count - 1}\n"
    return HEAD + f"feature f = {NESTINGS[shape](depth)}\n"


def long_parts(rng: random.Random) -> str:
    size = rng.choice((300, 10_000, 100_000))
    name = rng.choice("abxyz_") * size
    where = rng.randrange(8)
    if where == 0:
        return HEAD + f"feature {name} = x\n"
    if where == 1:
        return HEAD + f"feature f = {name}\n"
    if where == 2:
        return HEAD + f"feature f = {name}(x)\n"
    if where == 3:
        return HEAD.replace("  x: float", f"  {name}: float") + f"feature f = {name} + 1\n"
    if where == 4:
        return HEAD.replace("spec t", f"spec {name}") + "feature f = x\n"
    if where == 5:
        return HEAD + f'feature f = s == "{name}"\n'
    if where == 6:
        return HEAD + f"feature f = lookup(s, vocab(s), {name}=1)\n"
    return HEAD + f"feature f = x + {rng.choice('0123456789') * size}\n"


def nul(rng: random.Random) -> str:
    text = _seed(rng)
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(("\x00", '"\\u0000"', "\\u0000", "\x00" * 3)) + text[at:]


def lookalike(rng: random.Random) -> str:
    text = list(_seed(rng))
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.3:
            text.insert(rng.randrange(len(text) + 1), rng.choice(INVISIBLE))
            continue
        spots = [i for i, c in enumerate(text) if c in LOOKALIKES]
        if spots:
            at = rng.choice(spots)
            text[at] = LOOKALIKES[text[at]]
    return "".join(text)


def numbers(rng: random.Random) -> str:
    text = _seed(rng)
    spots = list(NUMBER.finditer(text))
    value = rng.choice(NUMBERS)
    if not spots or rng.random() < 0.2:
        return HEAD + f"feature f = {rng.choice(('x', 'n', 'y'))} + {value}\n"
    spot = rng.choice(spots)
    return text[: spot.start()] + value + text[spot.end() :]


LITERALS = literal_params()


def out_of_range(rng: random.Random) -> str:
    op, param = rng.choice(LITERALS)
    return with_literal(op, param, rng.choice((*BAD_LITERALS, *_range_edges(param))))


def _range_edges(param: Param) -> tuple[str, ...]:
    if param.range is None:
        return ()
    low, high = param.range
    step = 1 if isinstance(low, int) and isinstance(high, int) else 1e-9
    return tuple(literal_text(v) for v in (low - step, high + step, low * 2 - 1, high * 2 + 1))


MUTATIONS: dict[str, tuple[Callable[[random.Random], str | bytes], int]] = {
    "byte edits": (byte_edits, 20),
    "truncation": (truncation, 10),
    "token edits": (token_edits, 20),
    "nesting": (nesting, 4),
    "long names": (long_parts, 3),
    "NUL": (nul, 5),
    "lookalike Unicode": (lookalike, 12),
    "numbers": (numbers, 10),
    "out-of-range literals": (out_of_range, 16),
}


def mutants(count: int, seed: int) -> Iterator[tuple[str, str | bytes]]:
    rng = random.Random(seed)
    kinds = list(MUTATIONS)
    weights = [MUTATIONS[k][1] for k in kinds]
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0]
        yield kind, MUTATIONS[kind][0](rng)


def _assert_clean(
    texts: Iterator[tuple[str, str | bytes]], expected: int, limit: float | None = None
) -> None:
    count, problems = run_texts(texts, limit)
    assert count == expected
    assert not problems, f"{len(problems)} of {count} texts:\n\n" + "\n\n".join(problems[:10])


# ------------------------------------------------------------------ the runs
def test_mutated_spec_texts_bounded_slice() -> None:
    _assert_clean(mutants(FAST_TEXTS, seed=18), FAST_TEXTS)


@pytest.mark.slow
@pytest.mark.parametrize("shard", range(FULL_SHARDS))
def test_mutated_spec_texts_full(shard: int) -> None:
    _assert_clean(mutants(FULL_TEXTS, seed=1000 + shard), FULL_TEXTS, LIMIT_SECONDS)


def test_every_mutation_kind_is_drawn() -> None:
    drawn = {kind for kind, _ in mutants(FAST_TEXTS, seed=18)}
    assert drawn == set(MUTATIONS)


# ------------------------------------------------------------------ smallest inputs, by kind
@pytest.mark.parametrize("shape", list(NESTINGS))
def test_5000_levels_of_nesting(shape: str) -> None:
    _assert_clean(iter([(shape, HEAD + f"feature f = {NESTINGS[shape](5000)}\n")]), 1)


def _statements(kind: str, n: int) -> str:
    if kind == "lets":
        body = "let a0 = x\n" + "".join(f"let a{i} = a{i - 1} + 1\n" for i in range(1, n))
        return HEAD + body + f"feature f = a{n - 1}\n"
    return HEAD + "".join(f"feature f{i} = x + {i}\n" for i in range(n))


@pytest.mark.parametrize("kind", ["lets", "features"])
def test_5000_statements_grow_linearly(kind: str) -> None:
    """5,000 statements check cleanly, in CPU time about 5x that of 1,000 (linear growth;
    quadratic growth would be 25x). A ratio, not a time limit: the machine may be loaded."""
    cpu = {}
    for n in (1000, 5000):
        started = time.process_time()
        _assert_clean(iter([("statements", _statements(kind, n))]), 1)
        cpu[n] = time.process_time() - started
    assert cpu[5000] < 12 * cpu[1000], cpu


@pytest.mark.parametrize(("op", "param"), LITERALS, ids=[f"{o.name}.{p.name}" for o, p in LITERALS])
def test_every_literal_parameter_with_every_bad_value(op: Op, param: Param) -> None:
    texts = [(op.name, with_literal(op, param, v)) for v in (*BAD_LITERALS, *_range_edges(param))]
    _assert_clean(iter(texts), len(texts))


RANGED = [(op, p) for op, p in LITERALS if p.range is not None]


@pytest.mark.parametrize(("op", "param"), RANGED, ids=[f"{o.name}.{p.name}" for o, p in RANGED])
def test_a_literal_just_outside_its_range_is_refused_at_the_literal(op: Op, param: Param) -> None:
    for text in _range_edges(param)[:2]:
        source = with_literal(op, param, text)
        with pytest.raises(DiagnosticError) as caught:
            check_source(source, NAME)
        (diagnostic,) = caught.value.diagnostics
        line = source.split("\n")[diagnostic.span.line - 1]
        start = diagnostic.span.column - 1
        assert line[start : diagnostic.span.end_column - 1] == text, diagnostic
        assert not badly_reported(caught.value)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("round(x, 400)", "argument 'ndigits' of round() must be between -22 and 22, not 400"),
        ("round(x, -400)", "argument 'ndigits' of round() must be between -22 and 22, not -400"),
        # 2.0 * 10.0**308 is inf: a digit count that large is a range error, not an inf result.
        ("round(2.0, 308)", "argument 'ndigits' of round() must be between -22 and 22, not 308"),
        ("x + 1e-999", "number 1e-999 is too small for a float (below 4.9e-324): it would be 0"),
        ("x + 0." + "0" * 400 + "1", "is too small for a float"),
        ("x + 1e999", "number 1e999 is too large for a float"),
        (
            "a" * 256,
            "name 'aaaaaaaaaaaaaaaaaaaa...' is 256 characters long; names have at most 255",
        ),
    ],
)
def test_smallest_inputs_are_diagnostics(expression: str, message: str) -> None:
    source = example_spec(expression)
    with pytest.raises(DiagnosticError) as caught:
        check_source(source, NAME)
    assert message in str(caught.value)
    assert not badly_reported(caught.value)


def test_the_smallest_subnormal_and_255_character_names_are_fine() -> None:
    assert constant_pool(check_source(example_spec("x + 5e-324")))["float"] == []
    check_source(
        example_spec("a" * 255).replace("feature f", "let " + "a" * 255 + " = x\nfeature f")
    )


def test_bytes_that_are_not_utf8_are_a_diagnostic_at_their_line_and_column() -> None:
    raw = "spec t\ninput {\n  größe: float\n}\n".encode("latin-1")
    with pytest.raises(DiagnosticError) as caught:
        decode_spec(raw, NAME)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 5)
    assert "not valid UTF-8 (byte 19: 0xf6)" in diagnostic.message
    assert not badly_reported(caught.value)


def test_a_diagnostic_on_a_huge_line_shows_a_window_around_the_spot() -> None:
    source = HEAD + "feature f = x" + " " * 1_000_000 + "+ zz\n"
    with pytest.raises(DiagnosticError) as caught:
        check_source(source, NAME)
    rendered = str(caught.value)
    assert len(rendered) < 1_000 and "unknown name 'zz'" in rendered
    excerpt, caret = rendered.split("\n")[1:3]
    assert excerpt[caret.index("^") : caret.index("^") + 2] == "zz"
