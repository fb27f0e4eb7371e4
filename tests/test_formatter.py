"""`featuredsl fmt`: canonical, idempotent, comment-preserving, and never changes the program."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featuredsl.cli.main import main as cli_main
from featuredsl.compiler.frontend import check_source
from featuredsl.compiler.ir import Builder
from featuredsl.language import ast
from featuredsl.language.formatter import format_expr, format_spec
from featuredsl.language.parser import parse

EXAMPLES = sorted(Path(__file__).resolve().parents[1].glob("examples/*/*.fdsl"))
KEYWORDS = {"spec", "input", "let", "feature", "if", "then", "else", "and", "or", "not"}
KEYWORDS |= {"true", "false", "null"}


def fmt(source: str) -> str:
    return format_spec(parse(source), source)


def assert_same_program(source: str, formatted: str) -> None:
    """Both texts check to the same IR (one builder interns both) and canonical source."""
    builder = Builder()
    before = check_source(source, "a.fdsl", builder)
    after = check_source(formatted, "b.fdsl", builder)
    assert before.canonical_source == after.canonical_source
    assert len(before.roots) == len(after.roots)
    assert all(a is b for a, b in zip(before.roots, after.roots, strict=True))
    assert [f.name for f in before.features] == [f.name for f in after.features]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_examples_format_idempotently_and_keep_their_meaning(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    once = fmt(source)
    assert fmt(once) == once
    assert_same_program(source, once)
    assert source == once, f"{path} is not canonically formatted: run featuredsl fmt {path}"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("(a + b) * c", "(a + b) * c"),
        ("a + (b * c)", "a + b * c"),
        ("(a - b) - c", "a - b - c"),
        ("a - (b - c)", "a - (b - c)"),
        ("a / (b * c)", "a / (b * c)"),
        ("-(x ** 2)", "-x ** 2"),
        ("(-x) ** 2", "(-x) ** 2"),
        ("2 ** (3 ** 4)", "2 ** 3 ** 4"),
        ("(2 ** 3) ** 4", "(2 ** 3) ** 4"),
        ("2 ** -1", "2 ** -1"),
        ("- -x", "--x"),
        ("not (a and b)", "not (a and b)"),
        ("(not a) and b", "not a and b"),
        ("not (a == b)", "not a == b"),
        ("(not a) == b", "(not a) == b"),
        ("(a < b) == c", "(a < b) == c"),
        ("a or (b and c)", "a or b and c"),
        ("(a or b) and c", "(a or b) and c"),
        ("(if a then b else c) + 1", "(if a then b else c) + 1"),
        ("if a then b else (if c then d else e)", "if a then b else if c then d else e"),
        ("f( a,b , k = [1,2,] , )", "f(a, b, k=[1, 2])"),
        ('"tab\\there" == "\\u00e9\\U0001F600"', '"tab\\there" == "é😀"'),
        ('"\\u0085"', '"\\u0085"'),
        ("1.50e+3 + .5 + 7.", "1.50e+3 + .5 + 7."),
    ],
)
def test_expressions_get_minimal_parentheses(written: str, canonical: str) -> None:
    spec = parse(f"spec t\ninput {{ a: int }}\nfeature f = {written}\n")
    assert format_expr(spec.statements[0].expr) == canonical


COMMENTED = """\
# leading comment
spec  demo   # after the header
input {   # opens the block
  # about x
  x: float?,  n: int   # trailing on x's line
  # before the brace
}
let  a = fill_null(x,
   0)   # first line of a
      # a comment inside nothing
let b_ = n # b

# section: features
feature f1 = a + b_
feature f2 = a *
  2  # trailing on the last line

feature f3 = n  # three
# the end
"""

COMMENTED_FORMATTED = """\
# leading comment
spec demo  # after the header

input {  # opens the block
  # about x
  x: float?  # trailing on x's line
  n: int
  # before the brace
}

let a = fill_null(x, 0)  # first line of a
# a comment inside nothing
let b_ = n  # b

# section: features
feature f1 = a + b_
feature f2 = a * 2  # trailing on the last line

feature f3 = n  # three

# the end
"""


def test_comments_and_paragraphs_are_kept() -> None:
    assert fmt(COMMENTED) == COMMENTED_FORMATTED
    assert fmt(COMMENTED_FORMATTED) == COMMENTED_FORMATTED
    assert_same_program(COMMENTED, COMMENTED_FORMATTED)


def test_comment_free_form_is_what_the_fingerprint_hashes() -> None:
    spec = parse(COMMENTED)
    bare = format_spec(spec, COMMENTED, comments=False)
    assert "#" not in bare
    assert check_source(COMMENTED).canonical_source == bare


def test_fmt_command_rewrites_and_checks(tmp_path: Path) -> None:
    path = tmp_path / "demo.fdsl"
    path.write_text(COMMENTED, encoding="utf-8")
    with pytest.raises(SystemExit) as done:
        cli_main(["fmt", "--check", str(path)])
    assert done.value.code == 1
    assert path.read_text(encoding="utf-8") == COMMENTED
    with pytest.raises(SystemExit) as done:
        cli_main(["fmt", str(path)])
    assert done.value.code == 0
    assert path.read_text(encoding="utf-8") == COMMENTED_FORMATTED
    with pytest.raises(SystemExit) as done:
        cli_main(["fmt", "--check", str(path)])
    assert done.value.code == 0


# ------------------------------------------------------------------ random syntax trees

NAMES = st.sampled_from(["x", "n", "_a", "b2", "null_if", "true_rate", "iffy", "not_x", "log"])
NUMBERS = st.one_of(
    st.integers(0, 10**20).map(str),
    st.sampled_from(["0", "007", "1.", ".5", "1.25", "1e-3", "2.5E+6", "6e0"]),
)
# Spec text is Unicode NFC (anything else is refused, and tested elsewhere): U+FB2A is not.
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8
).map(lambda text: unicodedata.normalize("NFC", text))
LEAVES = st.one_of(
    NUMBERS.map(ast.Number),
    TEXT.map(ast.String),
    st.booleans().map(ast.Bool),
    st.just(ast.Null()),
    NAMES.map(ast.Name),
)
BINARY_OPS = st.sampled_from(
    ["or", "and", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "//", "%", "**"]
)


def _branches(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    keywords = st.lists(st.builds(ast.Keyword, NAMES, children), max_size=2)
    return st.one_of(
        st.builds(ast.Unary, st.sampled_from(["-", "not"]), children),
        st.builds(ast.Binary, BINARY_OPS, children, children),
        st.builds(
            ast.Call,
            NAMES,
            st.lists(children, max_size=3).map(tuple),
            keywords.map(tuple),
        ),
        st.builds(ast.ListExpr, st.lists(children, max_size=3).map(tuple)),
        st.builds(ast.IfExpr, children, children, children),
    )


EXPRESSIONS = st.recursive(LEAVES, _branches, max_leaves=24)


@settings(max_examples=200, deadline=None)
@given(EXPRESSIONS)
def test_formatting_any_tree_parses_back_to_it(expr: ast.Expr) -> None:
    text = format_expr(expr)
    source = f"spec t\ninput {{ x: int }}\nfeature f = {text}\n"
    parsed = parse(source).statements[0].expr
    assert parsed == expr
    assert format_expr(parsed) == text


def test_crlf_line_endings_format_to_lf_with_the_same_program() -> None:
    source = COMMENTED.replace("\n", "\r\n")
    assert fmt(source) == COMMENTED_FORMATTED
    assert_same_program(source, COMMENTED_FORMATTED)
