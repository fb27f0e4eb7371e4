"""Spec text -> AST. Lark parses; a Transformer builds our own AST; Lark errors become diagnostics."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Any

import lark
from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from featuredsl.language import ast
from featuredsl.language.diagnostics import Diagnostic, DiagnosticError, DiagnosticSink, Span
from featuredsl.language.durations import duration_micros

# How each grammar terminal reads in an error message.
TERMINAL_WORDS = {
    "NAME": "a name",
    "QUOTED_NAME": "a quoted column name",
    "NUMBER": "a number",
    "STRING": "a string",
    "TYPE_NAME": "a type (float, int, bool, string, timestamp)",
    "NULLABLE": "'?'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "DSLASH": "'//'",
    "PERCENT": "'%'",
    "POW": "'**'",
    "COMPARE": "a comparison",
    "OR": "'or'",
    "AND": "'and'",
    "NOT": "'not'",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "NULL": "'null'",
    "AS_OF": "'as_of'",
    "TIME": "'time'",
    "MAX_AGE": "'max_age'",
    "EVENTS": "'events'",
    "BY": "'by'",
    "LAG": "'lag'",
    "DOT": "'.'",
    "DURATION": "a duration (6h, 30m, 90s, 500ms, 2d)",
    "SPEC": "'spec'",
    "INPUT": "'input'",
    "LET": "'let'",
    "FEATURE": "'feature'",
    "IF": "'if'",
    "THEN": "'then'",
    "ELSE": "'else'",
    "$END": "the end of the file",
}
OPERATOR_TERMINALS = frozenset(
    ("PLUS", "MINUS", "STAR", "SLASH", "DSLASH", "PERCENT", "POW", "COMPARE", "OR", "AND")
)
KEYWORDS = frozenset(
    {
        *("SPEC", "INPUT", "LET", "FEATURE", "IF", "THEN", "ELSE", "AND", "OR", "NOT", "TRUE"),
        *("FALSE", "NULL", "TYPE_NAME", "AS_OF", "MAX_AGE"),
    }
)
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
ESCAPE_HINT = 'escapes are \\n \\t \\r \\" \\\\ \\uXXXX \\UXXXXXXXX'
HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")
# Deeper expressions would exhaust Python's stack in the tree passes; no real spec gets close.
MAX_DEPTH = 100
# Names become Python identifiers, ONNX value names and manifest keys; 255 is generous.
MAX_NAME_LENGTH = 255
QUOTE_HINT = "a column name with spaces or other characters is written in backticks: `mean radius`"
# Terminals that can start an expression; where all of VALUE_START fit, "an expression" does.
EXPRESSION_START = frozenset(
    (
        *("NAME", "QUOTED_NAME", "NUMBER", "STRING", "LPAR", "LSQB", "MINUS", "NOT", "IF"),
        *("TRUE", "FALSE", "NULL", "DURATION"),
    )
)
VALUE_START = frozenset(("NAME", "QUOTED_NAME", "NUMBER", "STRING", "LPAR", "LSQB"))
INT64_MAX = 2**63 - 1
STALE_POLICIES = ("refuse", "null")


@cache
def _lark() -> Lark:
    grammar = resources.files("featuredsl.language").joinpath("grammar.lark").read_text("utf-8")
    return Lark(grammar, parser="lalr", maybe_placeholders=False)


def _token_span(token: Token) -> Span:
    line = token.line or 0
    column = token.column or 0
    end_line = token.end_line or line
    end_column = token.end_column or column + 1
    return Span(line, column, end_line, end_column)


def _join(start: Span, end: Span) -> Span:
    return Span(start.line, start.column, end.end_line, end.end_column)


def _span(item: Token | ast.Expr) -> Span:
    return _token_span(item) if isinstance(item, Token) else _expr_span(item)


def _expr_span(expr: ast.Expr) -> Span:
    span: Span = getattr(expr, "span", Span.unknown())
    return span


def _without_tokens(children: list[Any]) -> list[Any]:
    return [child for child in children if not isinstance(child, Token)]


class SyntaxProblem(Exception):
    """Raised inside the transformer for a malformed literal; carries a diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _unescape(token: Token) -> str:
    text = _unescaped(token)
    if not unicodedata.is_normalized("NFC", text):
        line, column = token.line or 0, token.column or 0
        span = Span(line, column, line, column + len(token))
        hint = (
            "write the composed form (e.g. U+00E9 for e + U+0301): featuredsl compares text by "
            "code points and requires Unicode NFC everywhere"
        )
        raise SyntaxProblem(Diagnostic("string is not in Unicode NFC form", span, hint))
    return text


def _unescaped(token: Token) -> str:
    body = token[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = body[index + 1]
        if code in ESCAPES:
            out.append(ESCAPES[code])
            index += 2
            continue
        if code not in "uU":
            raise _escape_problem(
                token, index, 2, f"unknown escape '\\{code}' in string", ESCAPE_HINT
            )
        out.append(_unicode_escape(token, body, index))
        index += 2 + (4 if code == "u" else 8)
    return "".join(out)


def _unicode_escape(token: Token, body: str, index: int) -> str:
    """The character of a \\uXXXX or \\UXXXXXXXX escape starting at body[index]."""
    code = body[index + 1]
    digits = 4 if code == "u" else 8
    hex_text = body[index + 2 : index + 2 + digits]
    if len(hex_text) != digits or not HEX_DIGITS.fullmatch(hex_text):
        message = f"'\\{code}' needs exactly {digits} hex digits"
        raise _escape_problem(token, index, 2 + len(hex_text), message, ESCAPE_HINT)
    value = int(hex_text, 16)
    width = 2 + digits
    if value == 0:
        hint = "strings cannot hold U+0000 (it ends strings in C and ONNX runtimes)"
        raise _escape_problem(token, index, width, "NUL (U+0000) is not allowed", hint)
    if 0xD800 <= value <= 0xDFFF:
        hint = "write the character itself, or its code point with \\UXXXXXXXX"
        message = f"'\\{code}{hex_text}' is a surrogate, not a character"
        raise _escape_problem(token, index, width, message, hint)
    if value > 0x10FFFF:
        message = f"'\\{code}{hex_text}' is beyond U+10FFFF"
        raise _escape_problem(token, index, width, message, ESCAPE_HINT)
    return chr(value)


def _escape_problem(token: Token, index: int, width: int, message: str, hint: str) -> SyntaxProblem:
    line = token.line or 0
    column = (token.column or 0) + 1 + index
    return SyntaxProblem(Diagnostic(message, Span(line, column, line, column + width), hint))


class _ToAst(Transformer[Token, Any]):
    """Lark tree -> AST. Spans run from the first to the last token of each construct."""

    def start(self, children: list[Any]) -> ast.Spec:
        header, (items, input_span), *rest = children
        name, span = header
        columns = tuple(item for item in items if isinstance(item, ast.Column))
        times = tuple(item for item in items if isinstance(item, ast.TimeDecl))
        sources = tuple(item for item in rest if isinstance(item, ast.EventSource))
        statements = tuple(item for item in rest if isinstance(item, ast.Statement))
        return ast.Spec(
            name,
            columns,
            statements,
            span=span,
            input_span=input_span,
            time_decls=times,
            sources=sources,
        )

    def header(self, children: list[Token]) -> tuple[str, Span]:
        return str(children[0]), _token_span(children[0])

    def input_block(self, children: list[Any]) -> tuple[list[ast.Column], Span]:
        return _without_tokens(children), _join(_span(children[0]), _span(children[-1]))

    def event_block(self, children: list[Any]) -> ast.EventSource:
        keyword, name, _, key, *rest = children
        lag, lag_micros = "", 0
        if isinstance(rest[0], Token) and rest[0].type == "LAG":
            lag = str(rest[1])
            lag_micros = _duration_micros(rest[1], "lag")
            rest = rest[2:]
        items = _without_tokens(rest)
        return ast.EventSource(
            str(name),
            _identifier(key),
            tuple(item for item in items if isinstance(item, ast.Column)),
            time_decls=tuple(item for item in items if isinstance(item, ast.TimeDecl)),
            lag=lag,
            lag_micros=lag_micros,
            span=_join(_token_span(keyword), _span(children[-1])),
            name_span=_token_span(name),
            key_span=_token_span(key),
        )

    def column(self, children: list[Any]) -> ast.Column:
        name, type_name, *rest = children
        nullable = bool(rest) and isinstance(rest[0], Token) and rest[0].type == "NULLABLE"
        options = tuple(item for item in rest if isinstance(item, ast.ColumnOption))
        return ast.Column(
            _identifier(name), str(type_name), nullable, span=_token_span(name), options=options
        )

    def time_decl(self, children: list[Token]) -> ast.TimeDecl:
        keyword, column = children
        return ast.TimeDecl(
            _identifier(column), span=_join(_token_span(keyword), _token_span(column))
        )

    def as_of(self, children: list[Token]) -> ast.ColumnOption:
        keyword, column = children
        span = _join(_token_span(keyword), _token_span(column))
        return ast.ColumnOption("as_of", _identifier(column), span=span)

    def max_age(self, children: list[Token]) -> ast.ColumnOption:
        keyword, duration = children
        span = _join(_token_span(keyword), _token_span(duration))
        text = str(duration)
        return ast.ColumnOption("max_age", text, _duration_micros(duration, "max_age"), span=span)

    def stale_policy(self, children: list[Token]) -> ast.ColumnOption:
        keyword, policy = children
        if str(policy) not in STALE_POLICIES:
            raise SyntaxProblem(
                Diagnostic(
                    f"unknown freshness policy '{policy}'",
                    _token_span(policy),
                    "write `else refuse` (the serving Session refuses a stale value) or "
                    "`else null` (a stale value is treated as null)",
                )
            )
        span = _join(_token_span(keyword), _token_span(policy))
        return ast.ColumnOption("else", str(policy), span=span)

    def let_stmt(self, children: list[Any]) -> ast.Statement:
        return self._statement("let", children)

    def feature_stmt(self, children: list[Any]) -> ast.Statement:
        return self._statement("feature", children)

    @staticmethod
    def _statement(kind: str, children: list[Any]) -> ast.Statement:
        keyword, name, _, expr = children
        span = _join(_span(keyword), _span(expr))
        return ast.Statement(kind, str(name), expr, span, _token_span(name))

    def if_expr(self, children: list[Any]) -> ast.IfExpr:
        condition, then, otherwise = _without_tokens(children)
        span = _join(_span(children[0]), _span(otherwise))
        return ast.IfExpr(condition, then, otherwise, span=span)

    def binary(self, children: list[Any]) -> ast.Binary:
        left, op, right = children
        return ast.Binary(str(op), left, right, span=_join(_span(left), _span(right)))

    def unary(self, children: list[Any]) -> ast.Unary:
        op, operand = children
        return ast.Unary(str(op), operand, span=_join(_span(op), _span(operand)))

    def name(self, children: list[Token]) -> ast.Name:
        return ast.Name(_identifier(children[0]), span=_token_span(children[0]))

    def call(self, children: list[Any]) -> ast.Call:
        func, arguments = children[0], _without_tokens(children)
        args = tuple(a for a in arguments if not isinstance(a, ast.Keyword))
        keywords = tuple(a for a in arguments if isinstance(a, ast.Keyword))
        _check_argument_order(arguments)
        span, func_span = _join(_span(func), _span(children[-1])), _token_span(func)
        return ast.Call(str(func), args, keywords, span=span, func_span=func_span)

    def keyword_argument(self, children: list[Any]) -> ast.Keyword:
        name, value = children
        return ast.Keyword(str(name), value, span=_token_span(name))

    def list_expr(self, children: list[Any]) -> ast.ListExpr:
        span = _join(_span(children[0]), _span(children[-1]))
        return ast.ListExpr(tuple(_without_tokens(children)), span=span)

    def member(self, children: list[Token]) -> ast.Member:
        source, column = children[0], children[-1]
        span = _join(_token_span(source), _token_span(column))
        return ast.Member(str(source), _identifier(column), span=span)

    def duration(self, children: list[Token]) -> ast.Duration:
        token = children[0]
        micros = _duration_micros(token, "a window")
        return ast.Duration(str(token), micros, span=_token_span(token))

    def number(self, children: list[Token]) -> ast.Number:
        return ast.Number(str(children[0]), span=_token_span(children[0]))

    def string(self, children: list[Token]) -> ast.String:
        return ast.String(_unescape(children[0]), span=_token_span(children[0]))

    def true(self, children: list[Token]) -> ast.Bool:
        return ast.Bool(True, span=_token_span(children[0]))

    def false(self, children: list[Token]) -> ast.Bool:
        return ast.Bool(False, span=_token_span(children[0]))

    def null(self, children: list[Token]) -> ast.Null:
        return ast.Null(span=_token_span(children[0]))


def _duration_micros(token: Token, what: str) -> int:
    """The microseconds of a DURATION token; a duration beyond int64 is a diagnostic."""
    micros = duration_micros(str(token))
    if micros > INT64_MAX:
        raise SyntaxProblem(
            Diagnostic(
                f"{what} of {token} is longer than int64 microseconds can hold",
                _token_span(token),
                "write a duration below about 106,751 days",
            )
        )
    return micros


def _check_argument_order(arguments: list[Any]) -> None:
    # The formatter writes positional arguments first, so a later one would change meaning.
    seen_keyword = False
    for argument in arguments:
        if isinstance(argument, ast.Keyword):
            seen_keyword = True
        elif seen_keyword:
            raise SyntaxProblem(
                Diagnostic(
                    "positional argument after a keyword argument",
                    getattr(argument, "span", Span.unknown()),
                    "put positional arguments first, or name this one too",
                )
            )


def _identifier(token: Token) -> str:
    """A NAME as written; a QUOTED_NAME (`mean radius`) without its backticks."""
    text = str(token)
    if token.type != "QUOTED_NAME":
        return text
    name = text[1:-1]
    if name.endswith(".is_null"):
        raise SyntaxProblem(
            Diagnostic(
                f"the column name {name!r} ends in '.is_null', the suffix of null masks",
                _token_span(token),
                "rename the column in the data",
            )
        )
    return name


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    text = str(token)
    if token.type in ("NAME", "NUMBER", "STRING", "TYPE_NAME"):
        return f"{TERMINAL_WORDS.get(token.type, token.type)} '{text}'"
    return f"'{text}'"


def _expected_words(expected: set[str]) -> str:
    names = set(expected)
    words: list[str] = []
    if names >= VALUE_START:
        names -= EXPRESSION_START
        words.append("an expression")
    if len(names & OPERATOR_TERMINALS) >= 3:
        names -= OPERATOR_TERMINALS | {"LPAR", "DOT"}  # after a name: a call, a source.column
        words.append("an operator")
    words += sorted(TERMINAL_WORDS.get(n, n) for n in names)
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_hint(expected: set[str], token: Token, source: str) -> tuple[str, str]:
    """A plain-words message and hint for the commonest mistakes ("" for the generic message)."""
    found = _describe_token(token)
    if token.type == "NAME" and _char_before(token, source).isdigit():
        return (
            f"'{token}' after a number is not a duration unit",
            "a duration is an integer and one unit with no space: us, ms, s, m, h or d "
            "(e.g. 36h for a day and a half, 14d for two weeks); a product needs its operator: "
            f"{_number_before(token, source)} * {token}",
        )
    if {"RPAR", "COMMA"} <= expected:
        return (
            f"expected ',' or ')' after the argument, found {found}",
            "close the call with ')' or add ',' before the next argument",
        )
    if {"RSQB", "COMMA"} <= expected:
        return f"expected ',' or ']' in the list, found {found}", "close the list with ']'"
    if expected == {"TYPE_NAME"}:
        return (
            f"expected a type, found {found}",
            "write one of float, int, bool, string, timestamp, with '?' for nullable",
        )
    if "THEN" in expected:
        return (
            f"expected 'then' after the condition, found {found}",
            "write: if CONDITION then A else B",
        )
    if "ELSE" in expected:
        return (
            f"expected 'else' in the if-expression, found {found}",
            "an if-expression needs both branches: if C then A else B",
        )
    if token.type == "EQUAL" and expected >= VALUE_START and _char_before(token, source) == "=":
        return "expected an expression after '=', found '='", "bind with a single '=': let x = ..."
    if token.type in KEYWORDS and "NAME" in expected and not expected >= VALUE_START:
        return f"'{token}' is a keyword, not a name", "choose another name"
    if expected == {"COLON"} and token.type in ("NAME", "NUMBER"):
        return (
            f"expected ':' after the column name, found {found}",
            QUOTE_HINT,
        )
    return "", _generic_hint(expected, token)


def _generic_hint(expected: set[str], token: Token) -> str:
    if token.type == "COMPARE" and "COMPARE" not in expected and "AND" in expected:
        return "comparisons do not chain: write a < b and b < c"
    if len(expected & OPERATOR_TERMINALS) >= 3 and token.type in EXPRESSION_START:
        if token.type == "NAME":
            return f"two values in a row: is an operator or a ',' missing? ({QUOTE_HINT})"
        return "two values in a row: is an operator or a ',' missing?"
    if token.type == "$END":
        return "the spec ends in the middle of a statement"
    return ""


def _number_before(token: Token, source: str) -> str:
    """The digits written right before a token (`12` of `12x`)."""
    end = token.start_pos or 0
    start = end
    while start > 0 and source[start - 1].isdigit():
        start -= 1
    return source[start:end]


def _char_before(token: Token, source: str) -> str:
    position = token.start_pos or 0
    return source[position - 1] if position > 0 else ""


def _accepted(error: UnexpectedToken) -> set[str]:
    """Terminals the parser can really take here (LALR's own list merges unrelated contexts)."""
    try:
        parser = error.interactive_parser
        return set(parser.accepts()) if parser is not None else set(error.expected)
    except (UnexpectedInput, AttributeError, KeyError):
        return set(error.expected)


def _parse_error(error: UnexpectedInput, source: str) -> Diagnostic:
    if isinstance(error, UnexpectedCharacters):
        return _character_error(error, source)
    if isinstance(error, UnexpectedToken):
        return _token_error(error, source)
    return Diagnostic(
        "unexpected end of file", _end_span(source), "the spec ends in the middle of a statement"
    )


def _character_error(error: UnexpectedCharacters, source: str) -> Diagnostic:
    position = error.pos_in_stream or 0
    char = source[position] if position < len(source) else ""
    span = Span(error.line, error.column, error.line, error.column + 1)
    if char == "'":
        return Diagnostic("strings use double quotes", span, "write \"text\" instead of 'text'")
    if char == '"':
        return Diagnostic("unterminated string", span, 'close the string with " on the same line')
    if char.isalpha() and not char.isascii():
        return Diagnostic(
            f"unexpected character {char!r}", span, "names use ASCII letters, digits and '_'"
        )
    if char == "\\":
        return Diagnostic("unexpected '\\'", span, "backslash escapes belong inside strings")
    return Diagnostic(f"unexpected character {char!r}", span, "remove it, or check for a typo")


def _token_error(error: UnexpectedToken, source: str) -> Diagnostic:
    token = error.token
    expected = _accepted(error)
    span = _token_span(token) if token.type != "$END" else _end_span(source)
    message, hint = _syntax_hint(expected, token, source)
    if not message:
        message = f"expected {_expected_words(expected)}, found {_describe_token(token)}"
    return Diagnostic(message, span, hint)


def _end_span(source: str) -> Span:
    """The position just after the last character (lines counted by '\n' only, as Lark does)."""
    lines = source.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    line = len(lines)
    column = len(lines[-1]) + 1
    return Span(line, column, line, column + 1)


_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|(?P<comment>#[^\n]*)')


def _collect_comments(source: str) -> tuple[ast.Comment, ...]:
    """Comments are ignored by the grammar; find them here, skipping '#' inside strings."""
    comments = []
    for match in _COMMENT_OR_STRING.finditer(source):
        if match.group("comment") is None:
            continue
        line_start = source.rfind("\n", 0, match.start()) + 1
        own_line = source[line_start : match.start()].strip() == ""
        line = source.count("\n", 0, match.start()) + 1
        comments.append(ast.Comment(match.group("comment").rstrip(), line, own_line))
    return tuple(comments)


def _nul_error(source: str) -> Diagnostic | None:
    position = source.find("\x00")
    if position < 0:
        return None
    line = source.count("\n", 0, position) + 1
    column = position - (source.rfind("\n", 0, position) + 1) + 1
    return Diagnostic(
        "spec text contains a NUL character (U+0000)",
        Span(line, column, line, column + 1),
        "remove it; a NUL byte often means the file is not text",
    )


def _depth_error(tree: lark.Tree[Token]) -> Diagnostic | None:
    """The first subtree nested deeper than MAX_DEPTH, found without recursion."""
    stack: list[tuple[lark.Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return Diagnostic(
                f"expression nested more than {MAX_DEPTH} levels deep",
                _first_token_span(node),
                "split it into smaller parts with let",
            )
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, lark.Tree))
    return None


def _long_name_error(tree: lark.Tree[Token]) -> Diagnostic | None:
    """The first name longer than MAX_NAME_LENGTH (it would fill every message quoting it)."""
    for subtree in tree.iter_subtrees_topdown():
        for child in subtree.children:
            if (
                isinstance(child, Token)
                and child.type in ("NAME", "QUOTED_NAME")
                and len(child) > MAX_NAME_LENGTH
            ):
                return Diagnostic(
                    f"name '{child[:20]}...' is {len(child):,} characters long; names have at "
                    f"most {MAX_NAME_LENGTH}",
                    _token_span(child),
                    "choose a shorter name",
                )
    return None


def _first_token_span(tree: lark.Tree[Token]) -> Span:
    node: lark.Tree[Token] | Token = tree
    while isinstance(node, lark.Tree) and node.children:
        node = node.children[0]  # a loop, not recursion: the tree is deep by definition here
    return _token_span(node) if isinstance(node, Token) else Span(1, 1, 1, 2)


def _tree(source: str, filename: str) -> lark.Tree[Token]:
    problem = _nul_error(source)
    if problem is not None:
        raise DiagnosticError([problem], source, filename)
    try:
        tree = _lark().parse(source)
    except UnexpectedInput as error:
        raise DiagnosticError([_parse_error(error, source)], source, filename) from None
    problem = _depth_error(tree) or _long_name_error(tree)
    if problem is not None:
        raise DiagnosticError([problem], source, filename)
    return tree


def parse(source: str, filename: str = "<spec>") -> ast.Spec:
    """Parse spec text into an AST, or raise DiagnosticError with the syntax problem found."""
    tree = _tree(source, filename)
    try:
        spec: ast.Spec = _ToAst().transform(tree)
    except lark.exceptions.VisitError as error:
        original = error.orig_exc
        if isinstance(original, SyntaxProblem):
            raise DiagnosticError([original.diagnostic], source, filename) from None
        raise original from None
    return replace(spec, comments=_collect_comments(source))


def parse_or_sink(source: str, filename: str, sink: DiagnosticSink) -> ast.Spec | None:
    try:
        return parse(source, filename)
    except DiagnosticError as error:
        sink.items.extend(error.diagnostics)
        return None
