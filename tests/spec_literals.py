"""Spec texts built from the op registry with a chosen literal in a chosen parameter.

Shared by the constant-totality test (values inside each declared range must build) and the
spec-text mutation test (values outside must be diagnostics). The text starts from the op's own
documented example (`Op.example`), so it stays in step with the registry.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

from featuredsl.compiler.docgen import example_spec
from featuredsl.compiler.op import Op, Param
from featuredsl.compiler.registry import OPS
from featuredsl.language import ast
from featuredsl.language.diagnostics import Span
from featuredsl.language.parser import parse


def literal_params() -> list[tuple[Op, Param]]:
    """Every (op, parameter) that takes a literal or a scalar constant."""
    return [(op, p) for op in OPS for p in op.params if p.literal or p.range or not p.row]


def ranged_params() -> list[tuple[Op, Param]]:
    """Every (op, parameter) with a declared literal range."""
    return [(op, p) for op, p in literal_params() if p.range is not None]


def literal_text(value: Any) -> str:
    """How a value is written in a spec (floats exactly, specials by name)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        sign = "-" if math.copysign(1.0, value) < 0 else ""
        return sign + ("inf" if math.isinf(value) else repr(abs(value)))
    return str(value)


def with_literal(op: Op, param: Param, text: str) -> str:
    """The spec of op's example with `param`'s argument replaced by `text` (added if absent)."""
    source = example_spec(op.example)
    call = _first_call(parse(source), op)
    index = op.params.index(param)
    keyword = next((k for k in call.keywords if k.name == param.name), None)
    if keyword is not None:
        return _replace(source, _span(keyword.value), text)
    if index < len(call.args):
        return _replace(source, _span(call.args[index]), text)
    end = _offset(source, call.span.end_line, call.span.end_column) - 1  # the ')'
    return source[:end] + f", {param.name}={text}" + source[end:]


def _first_call(spec: ast.Spec, op: Op) -> ast.Call:
    for node in _walk(spec.statements[-1].expr):
        if isinstance(node, ast.Call) and node.func == op.name:
            return node
    raise AssertionError(f"{op.name}: its example {op.example!r} does not call it")


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if dataclasses.is_dataclass(node):
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            for child in value if isinstance(value, tuple) else (value,):
                if isinstance(child, (ast.Expr, ast.Keyword)):
                    yield from _walk(child)


def _span(expr: Any) -> Span:
    span: Span = expr.span
    return span


def _offset(source: str, line: int, column: int) -> int:
    lines = source.split("\n")
    return sum(len(text) + 1 for text in lines[: line - 1]) + column - 1


def _replace(source: str, span: Span, text: str) -> str:
    start = _offset(source, span.line, span.column)
    end = _offset(source, span.end_line, span.end_column)
    return source[:start] + text + source[end:]
