"""Spec text -> AST. Lark parses; a Transformer builds our own AST; Lark errors become diagnostics."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import lark
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from featuredsl.language import ast
from featuredsl.language.diagnostics import Diagnostic, DiagnosticError, DiagnosticSink, Span

# How each grammar terminal reads in an error message.
TERMINAL_WORDS = {
    "NAME": "a name",
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
    "SPEC": "'spec'",
    "INPUT": "'input'",
    "LET": "'let'",
    "FEATURE": "'feature'",
    "IF": "'if'",
    "THEN": "'then'",
    "ELSE": "'else'",
    "$END": "the end of the file",
}
OPERATOR_TERMINALS = {"PLUS", "MINUS", "STAR", "SLASH", "DSLASH", "PERCENT", "POW", "COMPARE", "OR", "AND"}
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


@cache
def _lark() -> Lark:
    grammar = resources.files("featuredsl.language").joinpath("grammar.lark").read_text("utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _token_span(token: Token) -> Span:
    line = token.line or 0
    column = token.column or 0
    end_line = token.end_line or line
    end_column = token.end_column or column + 1
    return Span(line, column, end_line, end_column)


def _meta_span(meta: Any) -> Span:
    if getattr(meta, "empty", True):
        return Span.unknown()
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


class SyntaxProblem(Exception):
    """Raised inside the transformer for a malformed literal; carries a diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _unescape(token: Token) -> str:
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
        if code in "uU":
            digits = 4 if code == "u" else 8
            hex_text = body[index + 2 : index + 2 + digits]
            if len(hex_text) == digits and re.fullmatch(r"[0-9a-fA-F]+", hex_text):
                value = int(hex_text, 16)
                if 0 < value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF:
                    out.append(chr(value))
                    index += 2 + digits
                    continue
        column = (token.column or 0) + 1 + index
        raise SyntaxProblem(
            Diagnostic(
                f"unknown escape '\\{code}' in string",
                Span(token.line or 0, column, token.line or 0, column + 2),
                "use one of \\n \\t \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX",
            )
        )
    return "".join(out)


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    def start(self, meta: Any, children: list[Any]) -> ast.Spec:
        header, (columns, input_span), *statements = children
        name, span = header
        return ast.Spec(name, tuple(columns), tuple(statements), span=span, input_span=input_span)

    def header(self, meta: Any, children: list[Token]) -> tuple[str, Span]:
        return str(children[0]), _token_span(children[0])

    def input_block(self, meta: Any, children: list[ast.Column]) -> tuple[list[ast.Column], Span]:
        return list(children), _meta_span(meta)

    def column(self, meta: Any, children: list[Token]) -> ast.Column:
        name, type_name, *rest = children
        return ast.Column(str(name), str(type_name), bool(rest), span=_token_span(name))

    def let_stmt(self, meta: Any, children: list[Any]) -> ast.Statement:
        return self._statement("let", meta, children)

    def feature_stmt(self, meta: Any, children: list[Any]) -> ast.Statement:
        return self._statement("feature", meta, children)

    @staticmethod
    def _statement(kind: str, meta: Any, children: list[Any]) -> ast.Statement:
        name, expr = children
        return ast.Statement(kind, str(name), expr, _meta_span(meta), _token_span(name))

    def if_expr(self, meta: Any, children: list[ast.Expr]) -> ast.IfExpr:
        return ast.IfExpr(children[0], children[1], children[2], span=_meta_span(meta))

    def binary(self, meta: Any, children: list[Any]) -> ast.Binary:
        left, op, right = children
        return ast.Binary(str(op), left, right, span=_meta_span(meta))

    def unary(self, meta: Any, children: list[Any]) -> ast.Unary:
        op, operand = children
        return ast.Unary(str(op), operand, span=_meta_span(meta))

    def name(self, meta: Any, children: list[Token]) -> ast.Name:
        return ast.Name(str(children[0]), span=_token_span(children[0]))

    def call(self, meta: Any, children: list[Any]) -> ast.Call:
        func, *arguments = children
        args = tuple(a for a in arguments if not isinstance(a, ast.Keyword))
        keywords = tuple(a for a in arguments if isinstance(a, ast.Keyword))
        return ast.Call(str(func), args, keywords, span=_meta_span(meta), func_span=_token_span(func))

    def keyword_argument(self, meta: Any, children: list[Any]) -> ast.Keyword:
        name, value = children
        return ast.Keyword(str(name), value, span=_token_span(name))

    def list_expr(self, meta: Any, children: list[ast.Expr]) -> ast.ListExpr:
        return ast.ListExpr(tuple(children), span=_meta_span(meta))

    def number(self, meta: Any, children: list[Token]) -> ast.Number:
        return ast.Number(str(children[0]), span=_token_span(children[0]))

    def string(self, meta: Any, children: list[Token]) -> ast.String:
        return ast.String(_unescape(children[0]), span=_token_span(children[0]))

    def true(self, meta: Any, children: list[Token]) -> ast.Bool:
        return ast.Bool(True, span=_token_span(children[0]))

    def false(self, meta: Any, children: list[Token]) -> ast.Bool:
        return ast.Bool(False, span=_token_span(children[0]))

    def null(self, meta: Any, children: list[Token]) -> ast.Null:
        return ast.Null(span=_token_span(children[0]))


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    text = str(token)
    if token.type in ("NAME", "NUMBER", "STRING", "TYPE_NAME"):
        return f"{TERMINAL_WORDS.get(token.type, token.type)} '{text}'"
    return f"'{text}'"


def _expected_words(expected: set[str]) -> str:
    names = set(expected)
    if names & OPERATOR_TERMINALS and len(names & OPERATOR_TERMINALS) >= 3:
        names -= OPERATOR_TERMINALS
        names.add("__operator__")
    words = sorted(TERMINAL_WORDS.get(n, "an operator" if n == "__operator__" else n) for n in names)
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_hint(expected: set[str], token: Token | None) -> tuple[str, str]:
    """A plain-words message and hint for the commonest mistakes."""
    if {"RPAR", "COMMA"} <= expected:
        return "expected ',' or ')' after the argument", "close the call with ')' or add ',' before the next argument"
    if {"RSQB", "COMMA"} <= expected:
        return "expected ',' or ']' in the list", "close the list with ']'"
    if expected == {"TYPE_NAME"}:
        return "expected a type", "write one of float, int, bool, string, timestamp, with '?' for nullable"
    if "EQUAL" in expected and token is not None and token.type == "COMPARE":
        return "expected '=' in a binding", "bind with a single '=': feature x = ..."
    if "THEN" in expected:
        return "expected 'then' after the condition", "write: if CONDITION then A else B"
    if "ELSE" in expected:
        return "expected 'else' in the if-expression", "an if-expression needs both branches: if C then A else B"
    return "", ""


def _parse_error(error: UnexpectedInput, source: str) -> Diagnostic:
    if isinstance(error, UnexpectedCharacters):
        char = source[error.pos_in_stream] if error.pos_in_stream < len(source) else ""
        span = Span(error.line, error.column, error.line, error.column + 1)
        if char == "'":
            return Diagnostic("strings use double quotes", span, 'write "text" instead of \'text\'')
        if char == '"':
            return Diagnostic("unterminated string", span, 'close the string with " on the same line')
        return Diagnostic(f"unexpected character {char!r}", span, "remove it, or check for a typo")
    if isinstance(error, UnexpectedToken):
        token = error.token
        expected = set(error.expected)
        span = _token_span(token) if token.type != "$END" else _end_span(source)
        message, hint = _syntax_hint(expected, token)
        if not message:
            message = f"expected {_expected_words(expected)}, found {_describe_token(token)}"
        else:
            message = f"{message}, found {_describe_token(token)}"
        if token.type == "$END" and not hint:
            hint = "the spec ends in the middle of a statement"
        return Diagnostic(message, span, hint)
    if isinstance(error, UnexpectedEOF):
        return Diagnostic("unexpected end of file", _end_span(source), "the spec ends in the middle of a statement")
    return Diagnostic("syntax error", Span(error.line, error.column, error.line, error.column + 1))


def _end_span(source: str) -> Span:
    lines = source.splitlines() or [""]
    line = len(lines)
    column = len(lines[-1]) + 1
    return Span(line, column, line, column + 1)


def _collect_comments(source: str) -> tuple[ast.Comment, ...]:
    """Comments are ignored by the grammar; find them here, skipping '#' inside strings."""
    code_lines = {token.line for token in _lark().lex(source)}
    comments = []
    for match in _COMMENT_OR_STRING.finditer(source):
        if match.group("comment") is not None:
            line = source.count("\n", 0, match.start()) + 1
            comments.append(ast.Comment(match.group("comment").rstrip(), line, line not in code_lines))
    return tuple(comments)


_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|(?P<comment>#[^\n]*)')


def parse(source: str, filename: str = "<spec>") -> ast.Spec:
    """Parse spec text into an AST, or raise DiagnosticError with every syntax problem found."""
    try:
        tree = _lark().parse(source)
    except UnexpectedInput as error:
        raise DiagnosticError([_parse_error(error, source)], source, filename) from None
    try:
        spec: ast.Spec = _ToAst().transform(tree)
    except lark.exceptions.VisitError as error:
        original = error.orig_exc
        if isinstance(original, SyntaxProblem):
            raise DiagnosticError([original.diagnostic], source, filename) from None
        raise original from None
    return ast.Spec(
        spec.name,
        spec.columns,
        spec.statements,
        comments=_collect_comments(source),
        span=spec.span,
        input_span=spec.input_span,
    )


def parse_or_sink(source: str, filename: str, sink: DiagnosticSink) -> ast.Spec | None:
    try:
        return parse(source, filename)
    except DiagnosticError as error:
        sink.items.extend(error.diagnostics)
        return None
