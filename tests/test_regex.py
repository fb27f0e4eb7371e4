"""The portable regex subset: what matches() accepts means the same in RE2 and Python re."""

from __future__ import annotations

import re
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featuredsl.compiler.frontend import check_source
from featuredsl.compiler.regex import check_portable_regex
from featuredsl.language.diagnostics import DiagnosticError

ACCEPTED = [
    "",
    "abc",
    "é+",
    "東京.*",
    "a|b|",
    "[A-Z]{2}",
    "[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,}",
    "[^@]*\\d{4,}[^@]*@.+",
    "[-a]",
    "[a-]",
    "[\\]\\[\\-\\\\]",
    "[\\d.]+",
    "\\.",
    "\\\\",
    "\\$\\^\\(\\)",
    "(?:ab)+",
    "(a|b)*?c",
    "a{0}",
    "a{3,}",
    "a{2,5}?",
    "(a{10}){100}",
    "\\w+\\W\\D",
    "\\n\\t\\r\\f\\v",
    "\\x41\\xe9",
    ".*(buy|cheap|deal|sale|price).*",
]

REJECTED = [
    ("^a", "anchor '^'"),
    ("a$", "anchor '$'"),
    ("\\Aa", "anchor \\A"),
    ("a\\z", "anchor \\z"),
    ("a\\Z", "anchor \\Z"),
    ("\\bword", "word boundary"),
    ("\\Bx", "\\B"),
    ("a\\s+b", "\\s"),
    ("\\S", "\\S"),
    ("(a)\\1", "backreference"),
    ("\\0", "octal"),
    ("(?=a)a", "lookahead"),
    ("(?!a)b", "negative lookahead"),
    ("(?<=a)b", "lookbehind"),
    ("(?<!a)b", "negative lookbehind"),
    ("(?P<name>a)", "named group"),
    ("(?<name>a)", "named group"),
    ("(?P=name)", "named backreference"),
    ("(?i)a", "inline flags"),
    ("(?s:a.)", "inline flags"),
    ("(?>a+)", "atomic group"),
    ("(?#note)a", "comment group"),
    ("a++", "quantifier after a quantifier"),
    ("a**", "quantifier after a quantifier"),
    ("a{2}{3}", "quantifier after a quantifier"),
    ("\\p{L}", "\\p{..}"),
    ("\\P{L}", "\\P{..}"),
    ("\\x{41}", "two hex digits"),
    ("\\u00e9", "\\u escape"),
    ("\\é", "escaped non-ASCII"),
    ("\\q", "unknown escape \\q"),
    ("[[:alpha:]]", "'[' inside a class"),
    ("[a-z", "unterminated class"),
    ("[]a]", "']' first in a class"),
    ("[z-a]", "out of order"),
    ("[a-c-e]", "'-' inside a class"),
    ("[\\d-z]", "range with \\d"),
    ("[a&&b]", "'&&' inside a class"),
    ("(ab", "unbalanced '('"),
    ("ab)", "unbalanced ')'"),
    ("*a", "nothing to repeat"),
    ("a|+", "nothing to repeat"),
    ("a{,3}", "not a repetition"),
    ("a{", "not a repetition"),
    ("a}", "unescaped '}'"),
    ("a{1001}", "above 1000"),
    ("a{3,2}", "max below min"),
    ("(a{100}){20}", "nested repetition above 1000"),
    ("\\", "trailing backslash"),
    ("(" * 101 + ")" * 101, "nested more than 100"),
]


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_accepted_patterns_compile_in_python(pattern: str) -> None:
    assert check_portable_regex(pattern) == ""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        re.compile(pattern, re.ASCII)


@pytest.mark.parametrize(("pattern", "reason"), REJECTED)
def test_rejected_patterns_say_why(pattern: str, reason: str) -> None:
    problem = check_portable_regex(pattern)
    assert reason in problem
    assert re.match(r"position \d+: ", problem), problem


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("[a-z0-9._%+-]+@(gmail|yahoo)\\.com", "anna.b@gmail.com", True),
        ("[a-z0-9._%+-]+@(gmail|yahoo)\\.com", "anna@gmail.co", False),
        ("\\d{3}", "١٢٣", False),  # \d is ASCII-only in both engines
        ("\\w+", "café", False),  # so is \w
        ("caf.", "café", True),  # . is one code point
        (".", "\n", False),
        ("a|ab", "ab", True),  # a full match, whichever alternative gets there
    ],
)
def test_python_reading_of_the_subset(pattern: str, text: str, matches: bool) -> None:
    assert check_portable_regex(pattern) == ""
    assert (re.fullmatch(pattern, text, re.ASCII) is not None) is matches


REGEX_ALPHABET = st.sampled_from([*"ab.|*+?(){}[]^$-\\,:=!<>PdDwWsSbxuz019é", "(?:", "{2}"])


@settings(max_examples=400, deadline=None)
@given(st.lists(REGEX_ALPHABET, max_size=12).map("".join))
def test_accepted_random_patterns_always_compile(pattern: str) -> None:
    problem = check_portable_regex(pattern)
    assert isinstance(problem, str)
    if not problem:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            re.compile(pattern, re.ASCII)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_any_text_gets_an_answer(pattern: str) -> None:
    assert isinstance(check_portable_regex(pattern), str)


def test_the_checker_reports_the_pattern_position() -> None:
    source = 'spec t\ninput { s: string }\nfeature f = matches(s, "a\\\\bc")\n'
    with pytest.raises(DiagnosticError) as caught:
        check_source(source, "t.fdsl")
    diagnostic = caught.value.diagnostics[0]
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 24)
    assert "word boundary" in diagnostic.message


def test_a_portable_pattern_checks() -> None:
    source = 'spec t\ninput { s: string }\nfeature f = matches(s, "[A-Z]{2}\\\\d+")\n'
    program = check_source(source, "t.fdsl")
    assert program.features[0].dtype.value == "bool"
