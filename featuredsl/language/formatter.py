"""AST -> canonical spec text. Idempotent; keeps comments; the comment-free form is what
the fingerprint hashes, so reformatting or commenting a spec never changes its artifacts."""

from __future__ import annotations

from featuredsl.language import ast

PRECEDENCE = {
    "if": 1,
    "or": 2,
    "and": 3,
    "not": 4,
    "==": 5, "!=": 5, "<": 5, "<=": 5, ">": 5, ">=": 5,
    "+": 6, "-": 6,
    "*": 7, "/": 7, "//": 7, "%": 7,
    "neg": 8,
    "**": 9,
}
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
        return expr.id
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


def _statement_text(statement: ast.Statement) -> str:
    return f"{statement.kind} {statement.name} = {format_expr(statement.expr)}"


def format_spec(spec: ast.Spec, source: str = "", comments: bool = True) -> str:
    """Canonical text of a spec. With comments=False, the form the fingerprint hashes."""
    notes = list(spec.comments) if comments else []
    source_lines = source.splitlines()
    out: list[str] = []

    def leading(before_line: int) -> None:
        while notes and notes[0].own_line and notes[0].line < before_line:
            out.append(notes.pop(0).text)

    def trailing(first: int, last: int) -> str:
        for index, note in enumerate(notes):
            if not note.own_line and first <= note.line <= last:
                notes.pop(index)
                return "  " + note.text
        return ""

    def blank_before(line: int) -> bool:
        return 1 < line <= len(source_lines) + 1 and source_lines[line - 2].strip() == ""

    leading(spec.span.line)
    out.append(f"spec {spec.name}" + trailing(spec.span.line, spec.span.line))
    out.append("")
    leading(spec.input_span.line)
    out.append("input {" + trailing(spec.input_span.line, spec.input_span.line))
    for column in spec.columns:
        while notes and notes[0].own_line and notes[0].line < column.span.line:
            out.append("  " + notes.pop(0).text)
        nullable = "?" if column.nullable else ""
        out.append(f"  {column.name}: {column.type_name}{nullable}" + trailing(column.span.line, column.span.line))
    while notes and notes[0].own_line and notes[0].line < spec.input_span.end_line:
        out.append("  " + notes.pop(0).text)
    out.append("}" + trailing(spec.input_span.end_line, spec.input_span.end_line))
    previous_kind = ""
    for statement in spec.statements:
        first_line = statement.span.line
        comment_start = min([n.line for n in notes if n.own_line and n.line < first_line], default=first_line)
        if previous_kind == "" or previous_kind != statement.kind or blank_before(comment_start):
            out.append("")
        leading(first_line)
        out.append(_statement_text(statement) + trailing(first_line, statement.span.end_line))
        previous_kind = statement.kind
    if notes:
        out.append("")
        out.extend(note.text for note in notes)
    return "\n".join(out) + "\n"
