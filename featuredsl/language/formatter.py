"""AST -> canonical spec text. Idempotent; keeps comments; the comment-free form is what
the fingerprint hashes, so reformatting or commenting a spec never changes its artifacts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from featuredsl.language import ast

# Operator precedence, loosest first; "neg" is unary minus. docs/language.md prints this table.
LEVELS: tuple[tuple[str, ...], ...] = (
    ("if",),
    ("or",),
    ("and",),
    ("not",),
    ("==", "!=", "<", "<=", ">", ">="),
    ("+", "-"),
    ("*", "/", "//", "%"),
    ("neg",),
    ("**",),
)
PRECEDENCE = {op: level for level, ops in enumerate(LEVELS, start=1) for op in ops}
ATOM = 10
COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}


def quote(text: str) -> str:
    out = ['"']
    for char in text:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F or 0x80 <= ord(char) < 0xA0:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _precedence(expr: ast.Expr) -> int:
    if isinstance(expr, ast.IfExpr):
        return PRECEDENCE["if"]
    if isinstance(expr, ast.Binary):
        return PRECEDENCE[expr.op]
    if isinstance(expr, ast.Unary):
        return PRECEDENCE["not" if expr.op == "not" else "neg"]
    return ATOM


def _wrap(expr: ast.Expr, needs_parens: bool) -> str:
    text = format_expr(expr)
    return f"({text})" if needs_parens else text


PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEYWORDS = frozenset(
    [
        "spec",
        "input",
        "let",
        "feature",
        "if",
        "then",
        "else",
        "and",
        "or",
        "not",
        "true",
        "false",
        "null",
        "as_of",
        "max_age",
    ]
)
# Freshness options are written in this order, whatever order the author used.
OPTION_ORDER = {"as_of": 0, "max_age": 1, "else": 2}


def quote_name(name: str) -> str:
    """A column name as the spec writes it: plain, or in backticks (`mean radius`)."""
    if PLAIN_NAME.fullmatch(name) and name not in KEYWORDS:
        return name
    return f"`{name}`"


def format_expr(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Number):
        return expr.text
    if isinstance(expr, ast.String):
        return quote(expr.value)
    if isinstance(expr, ast.Bool):
        return "true" if expr.value else "false"
    if isinstance(expr, ast.Null):
        return "null"
    if isinstance(expr, ast.Name):
        return quote_name(expr.id)
    if isinstance(expr, ast.Member):
        return f"{expr.source}.{quote_name(expr.column)}"
    if isinstance(expr, ast.Duration):
        return expr.text
    if isinstance(expr, ast.ListExpr):
        return "[" + ", ".join(format_expr(item) for item in expr.items) + "]"
    if isinstance(expr, ast.Call):
        parts = [format_expr(a) for a in expr.args]
        parts += [f"{k.name}={format_expr(k.value)}" for k in expr.keywords]
        return f"{expr.func}({', '.join(parts)})"
    if isinstance(expr, ast.IfExpr):
        return f"if {format_expr(expr.condition)} then {format_expr(expr.then)} else {format_expr(expr.otherwise)}"
    if isinstance(expr, ast.Unary):
        if expr.op == "not":
            return "not " + _wrap(expr.operand, _precedence(expr.operand) < PRECEDENCE["not"])
        inner = _wrap(expr.operand, _precedence(expr.operand) < PRECEDENCE["neg"])
        return "-" + inner
    if isinstance(expr, ast.Binary):
        mine = PRECEDENCE[expr.op]
        left_p, right_p = _precedence(expr.left), _precedence(expr.right)
        if expr.op == "**":
            left = _wrap(expr.left, left_p != ATOM)
            right = _wrap(expr.right, right_p < PRECEDENCE["neg"])
        elif expr.op in COMPARISONS:
            left = _wrap(expr.left, left_p <= mine)
            right = _wrap(expr.right, right_p <= mine)
        else:
            left = _wrap(expr.left, left_p < mine)
            right = _wrap(expr.right, right_p <= mine)
        return f"{left} {expr.op} {right}"
    raise TypeError(type(expr).__name__)


def _column_text(column: ast.Column) -> str:
    nullable = "?" if column.nullable else ""
    text = f"{quote_name(column.name)}: {column.type_name}{nullable}"
    for option in sorted(column.options, key=lambda o: OPTION_ORDER[o.kind]):
        value = quote_name(option.value) if option.kind == "as_of" else option.value
        text += f" {option.kind} {value}"
    return text


def _statement_text(statement: ast.Statement) -> str:
    return f"{statement.kind} {statement.name} = {format_expr(statement.expr)}"


@dataclass
class _Item:
    """One output line of the layout, with the comments that belong to it."""

    text: str
    first: int  # source lines the item spans
    last: int
    indent: str = ""
    kind: str = ""  # "let" / "feature" for statements: blank lines separate the kinds
    leading: list[ast.Comment] = field(default_factory=list)
    trailing: list[str] = field(default_factory=list)


def _items(spec: ast.Spec) -> list[_Item]:
    items = [_Item(f"spec {spec.name}", spec.span.line, spec.span.end_line)]
    items.append(_Item("input {", spec.input_span.line, spec.input_span.line))
    entries: list[tuple[int, str]] = [
        (decl.span.line, f"time {quote_name(decl.column)}") for decl in spec.time_decls
    ]
    entries += [(column.span.line, _column_text(column)) for column in spec.columns]
    for line, text in sorted(entries, key=lambda entry: entry[0]):
        items.append(_Item(text, line, line, indent="  "))
    end = spec.input_span.end_line
    items.append(_Item("}", end, end, indent="  "))
    for source in spec.sources:
        items.extend(_source_items(source))
    for statement in spec.statements:
        span = statement.span
        items.append(
            _Item(_statement_text(statement), span.line, span.end_line, kind=statement.kind)
        )
    return items


def _source_items(source: ast.EventSource) -> list[_Item]:
    """An event source's lines: its header, its time declaration and columns, and its "}"."""
    header = f"events {source.name} by {quote_name(source.key)}"
    if source.lag:
        header += f" lag {source.lag}"
    line = source.span.line
    items = [_Item(header + " {", line, line)]
    entries: list[tuple[int, str]] = [
        (decl.span.line, f"time {quote_name(decl.column)}") for decl in source.time_decls
    ]
    entries += [(column.span.line, _column_text(column)) for column in source.columns]
    for line, text in sorted(entries, key=lambda entry: entry[0]):
        items.append(_Item(text, line, line, indent="  "))
    end = source.span.end_line
    items.append(_Item("}", end, end, indent="  "))
    return items


def _attach(items: list[_Item], comments: tuple[ast.Comment, ...]) -> list[str]:
    """Own-line comments lead the next item; trailing ones follow the item on their line.

    Returns the comments after the last item. Attaching by line keeps formatting idempotent:
    the formatted text puts every comment where the same rule finds it again."""
    rest: list[str] = []
    for note in comments:
        if note.own_line:
            target = next((item for item in items if item.first > note.line), None)
            if target is None:
                rest.append(note.text)
            else:
                target.leading.append(note)
        else:
            target = next((item for item in items if item.last >= note.line), items[-1])
            target.trailing.append(note.text)
    return rest


def _blank_lines(source: str) -> set[int]:
    return {number for number, text in enumerate(source.split("\n"), start=1) if not text.strip()}


def format_spec(spec: ast.Spec, source: str = "", comments: bool = True) -> str:
    """Canonical text of a spec. With comments=False, the form the fingerprint hashes: no
    comments and only the structural blank lines, so that reformatting a spec, or adding a
    blank line, never changes its fingerprint."""
    items = _items(spec)
    rest = _attach(items, spec.comments) if comments else []
    blanks = _blank_lines(source) if comments else set()
    out: list[str] = []
    previous_kind = ""
    for index, item in enumerate(items):
        if _blank_before(items, index, previous_kind, blanks):
            out.append("")
        # The input block's comments are indented like its columns; "}" itself is not.
        out.extend(item.indent + note.text for note in item.leading)
        line = (item.indent if item.text != "}" else "") + item.text
        if item.trailing:
            line += "  " + "  ".join(item.trailing)
        out.append(line)
        previous_kind = item.kind or previous_kind
    if rest:
        out.append("")
        out.extend(rest)
    return "\n".join(out) + "\n"


def _blank_before(items: list[_Item], index: int, previous_kind: str, blanks: set[int]) -> bool:
    """Blank lines follow the header and the input block, separate lets from features, and
    stay where the author left one between two statements of the same kind."""
    item = items[index]
    if index == 1 or (index > 1 and items[index - 1].text == "}"):
        return True
    if not item.kind or not previous_kind:
        return False
    if item.kind != previous_kind:
        return True
    first_line = item.leading[0].line if item.leading else item.first
    return first_line - 1 in blanks
