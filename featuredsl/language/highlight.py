"""A Pygments lexer for featuredsl specs (`.fdsl`), following the lexical rules of
docs/language.md and featuredsl/language/grammar.lark.

Registered through the `pygments.lexers` entry point, so Pygments finds it by name
(`fdsl`, `featuredsl`) and by file name (`*.fdsl`) once featuredsl is installed:

    pygmentize -l fdsl examples/churn/churn.fdsl
    ```fdsl  (Markdown with Pygments: MkDocs, Sphinx via myst, ...)

Anything the language does not allow (a single-quoted string, a stray character) is an Error
token, so a test can prove that every example and documented spec lexes cleanly.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

KEYWORDS = ("spec", "input", "let", "feature", "if", "then", "else", "as_of", "max_age", "refuse")
WORD_OPERATORS = ("and", "or", "not")
CONSTANTS = ("true", "false", "null")
NAMED_NUMBERS = ("pi", "inf", "nan")
TYPES = ("float", "int", "string", "bool", "timestamp")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class FeatureDSLLexer(RegexLexer):
    """Pygments lexer for featuredsl `.fdsl` specs."""

    name = "featuredsl"
    aliases: ClassVar[list[str]] = ["fdsl", "featuredsl"]
    filenames: ClassVar[list[str]] = ["*.fdsl"]
    mimetypes: ClassVar[list[str]] = ["text/x-featuredsl"]
    url = "https://pypi.org/project/featuredsl/"

    tokens: ClassVar[dict[str, list[Any]]] = {
        "root": [
            (r"[ \t\r\n]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            # A column declaration: name, ':', type, optional '?'.
            (
                rf"({_NAME}|`[^`\\\x00-\x1f\x7f]+`)([ \t]*)(:)([ \t]*)({'|'.join(TYPES)})\b(\??)",
                bygroups(
                    Name.Variable, Whitespace, Punctuation, Whitespace, Keyword.Type, Operator
                ),
            ),
            (r"`[^`\\\x00-\x1f\x7f]+`", Name.Variable),
            (
                rf"(spec|let|feature)(\s+)({_NAME})",
                bygroups(Keyword.Declaration, Whitespace, Name.Entity),
            ),
            # The prediction-time line of an input block: `time COLUMN`.
            (rf"^([ \t]*)(time)([ \t]+)({_NAME})", bygroups(Whitespace, Keyword, Whitespace, Name)),
            # An event source's header: `events NAME by KEY lag DURATION {`.
            (
                rf"^(events)([ \t]+)({_NAME})([ \t]+)(by)([ \t]+)({_NAME})",
                bygroups(
                    Keyword.Declaration,
                    Whitespace,
                    Name.Entity,
                    Whitespace,
                    Keyword,
                    Whitespace,
                    Name,
                ),
            ),
            (r"(lag)(?=[ \t]+[0-9])", Keyword),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (r"[0-9]+(?:us|ms|s|m|h|d)\b", Number.Integer),  # a duration: max_age 12h
            (words(WORD_OPERATORS, suffix=r"\b"), Operator.Word),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(NAMED_NUMBERS, suffix=r"\b"), Name.Constant),
            (r'"', String.Double, "string"),
            (r"([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (rf"({_NAME})(\s*)(=)(?!=)", bygroups(Name.Attribute, Whitespace, Operator)),
            (rf"{_NAME}(?=\s*\()", Name.Function),
            (_NAME, Name),
            (r"\*\*|//|==|!=|<=|>=|[-+*/%<>=?]", Operator),
            (r"[(){}\[\],:.]", Punctuation),
        ],
        "string": [
            (r'\\(["\\ntr]|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8})', String.Escape),
            (r'[^"\\\n]+', String.Double),
            (r'"', String.Double, "#pop"),
            (r"\\.|\n", Error, "#pop"),
        ],
    }
